import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * The client core must run where Node.js built-ins do not (browsers, over a WebSocket
 * transport): only the TCP transport and the Node entry point may reach `node:*`, directly or
 * through anything they import.
 */

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CLIENT = join(ROOT, 'src/client');
/**
 * The Node-only files: the TCP transport, the barrel that exports it, and definitions
 * export/import (the CLI's; it stamps the package version read from package.json on disk).
 */
const NODE_ONLY = new Set(['src/client/transport/tcp.ts', 'src/client/index.ts', 'src/client/definitions.ts']);

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
}

function imports(file: string): string[] {
  const src = readFileSync(file, 'utf8');
  return [...src.matchAll(/^(?:import|export)\s[^'"]*?from\s+'([^']+)'/gm), ...src.matchAll(/import\('([^']+)'\)/g)].map((m) => m[1] as string);
}

/** Every module `file` reaches, following relative imports (`.js` specifiers name `.ts` files). */
function reach(file: string, seen = new Map<string, string[]>()): Map<string, string[]> {
  if (seen.has(file)) return seen;
  const specs = imports(file);
  seen.set(file, specs);
  for (const s of specs) if (s.startsWith('.')) reach(resolve(dirname(file), s.replace(/\.js$/, '.ts')), seen);
  return seen;
}

describe('the client core', () => {
  const core = files(CLIENT).filter((f) => !NODE_ONLY.has(relative(ROOT, f)));

  it('is the files other than the TCP transport and the Node entry', () => {
    expect(core.map((f) => relative(ROOT, f))).toContain('src/client/connection.ts');
    expect(core.map((f) => relative(ROOT, f))).toContain('src/client/transport/transport.ts');
  });

  it('imports no Node.js built-in, directly or through what it imports', () => {
    const offenders: string[] = [];
    for (const f of core) {
      for (const [mod, specs] of reach(f)) {
        for (const s of specs) {
          if (s.startsWith('node:') || relative(ROOT, resolve(dirname(mod), s.replace(/\.js$/, '.ts'))) === 'src/client/transport/tcp.ts') {
            offenders.push(`${relative(ROOT, f)} -> ${relative(ROOT, mod)} imports ${s}`);
          }
        }
      }
    }
    expect(offenders).toEqual([]);
  });

  it('uses no Node.js-only global (process, setImmediate, NodeJS types)', () => {
    const offenders = core.filter((f) => /\bprocess\.\w|\bsetImmediate\(|\bNodeJS\./.test(readFileSync(f, 'utf8'))).map((f) => relative(ROOT, f));
    expect(offenders).toEqual([]);
  });
});
