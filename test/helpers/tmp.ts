import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';

/** A scratch directory for the enclosing file or describe block, removed afterwards. */
export interface TempDir {
  /** The directory (only inside tests and hooks). */
  readonly path: string;
  /** `path/name`. */
  join(name: string): string;
  /** Writes `text` to `path/name` and returns that path. */
  file(name: string, text: string): string;
}

export function useTempDir(prefix: string): TempDir {
  let dir: string | null = null;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), prefix));
  });
  afterAll(() => {
    if (dir !== null) rmSync(dir, { recursive: true, force: true });
  });
  const t: TempDir = {
    get path(): string {
      if (dir === null) throw new Error('useTempDir: no directory outside tests');
      return dir;
    },
    join: (name) => join(t.path, name),
    file: (name, text) => {
      const p = join(t.path, name);
      writeFileSync(p, text);
      return p;
    },
  };
  return t;
}
