import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The repository root (this file runs as bench/dist/bench/macro/paths.js). */
export const REPO_ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
/** Where runs leave logs, raw results and profiles (gitignored). */
export const OUT_DIR = `${REPO_ROOT}bench/out`;
export const SKIFF_CLI = `${REPO_ROOT}dist/cli/skiff.js`;

export function outDir(sub = ''): string {
  const d = sub === '' ? OUT_DIR : `${OUT_DIR}/${sub}`;
  mkdirSync(d, { recursive: true });
  return d;
}
