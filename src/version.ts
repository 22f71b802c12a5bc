import { readFileSync } from 'node:fs';

/** The package version, read once from package.json. */
export const VERSION: string = (() => {
  // Compiled code runs from dist/src (the bench's copy from bench/dist/src), tests from src.
  for (const rel of ['../../package.json', '../package.json', '../../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as { name?: string; version: string };
      if (pkg.name === 'skiffmq') return pkg.version;
    } catch {
      // try the next location
    }
  }
  return '0.0.0';
})();
