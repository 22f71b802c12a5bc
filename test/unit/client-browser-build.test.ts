import { execFile } from 'node:child_process';
import { builtinModules } from 'node:module';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

/**
 * The browser build (`skiffmq/browser`, built by `npm test`'s pretest into dist/browser) as a
 * bundler or a browser's import map would load it: every module it reaches, through relative
 * imports and packages resolved with the `browser` condition, must import no Node built-in.
 */

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { exports: Record<string, unknown> };
const run = promisify(execFile);

const IMPORT = /(?:^|[;\n}])\s*(?:import|export)\s*(?:[^'"]*?\sfrom\s*)?['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;

/** Where a bare specifier resolves for a browser: the package's `browser` export (or `module`/`main`). */
function resolveBare(spec: string, from: string): string {
  const name = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : (spec.split('/')[0] as string);
  let dir = dirname(from);
  for (;;) {
    const candidate = join(dir, 'node_modules', name, 'package.json');
    try {
      const p = JSON.parse(readFileSync(candidate, 'utf8')) as { exports?: Record<string, unknown>; module?: string; main?: string };
      const sub = spec === name ? '.' : `.${spec.slice(name.length)}`;
      const e = p.exports?.[sub] as Record<string, unknown> | string | undefined;
      const target = typeof e === 'string' ? e : ((e?.['browser'] ?? e?.['import'] ?? e?.['default'] ?? p.module ?? p.main) as string);
      return join(dirname(candidate), target);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      const up = dirname(dir);
      if (up === dir) throw new Error(`cannot resolve ${spec} from ${from}`);
      dir = up;
    }
  }
}

/** Every module reachable from `entry`, with the specifiers each imports. */
function graph(entry: string): Map<string, string[]> {
  const seen = new Map<string, string[]>();
  const todo = [entry];
  while (todo.length > 0) {
    const file = todo.pop() as string;
    if (seen.has(file)) continue;
    const src = readFileSync(file, 'utf8');
    const specs = [...src.matchAll(IMPORT)].map((m) => (m[1] ?? m[2]) as string);
    seen.set(file, specs);
    for (const s of specs) {
      if (s.startsWith('node:') || builtinModules.includes(s)) continue;
      todo.push(s.startsWith('.') ? resolve(dirname(file), s) : resolveBare(s, file));
    }
  }
  return seen;
}

describe('the browser build', () => {
  const entry = join(ROOT, (pkg.exports['./browser'] as { default: string }).default);

  it('is exported as skiffmq/browser, with types', () => {
    expect(pkg.exports['./browser']).toEqual({ types: './dist/browser/src/client/browser.d.ts', default: './dist/browser/src/client/browser.js' });
  });

  it('imports no Node.js built-in, directly or through its dependencies', () => {
    const modules = graph(entry);
    const nodeImports = [...modules].flatMap(([file, specs]) =>
      specs.filter((s) => s.startsWith('node:') || builtinModules.includes(s)).map((s) => `${file.slice(ROOT.length)} imports ${s}`),
    );
    expect(nodeImports).toEqual([]);
    // It reaches the codec and msgpackr's browser build, and not the TCP transport or the daemon.
    const files = [...modules.keys()].map((f) => f.slice(ROOT.length));
    expect(files).toEqual(expect.arrayContaining(['dist/browser/protocol/codec/decoder.js', 'dist/browser/src/client/transport/websocket.js', 'node_modules/msgpackr/index.js']));
    expect(files.filter((f) => f.includes('transport/tcp') || f.includes('/server/') || f.includes('/broker/'))).toEqual([]);
  });

  it("type-checks in a project without Node's types, with bodies as Uint8Array", { timeout: 60_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'skiff-browser-types-'));
    try {
      writeFileSync(
        join(dir, 'page.ts'),
        [
          `import { connect, type Message } from ${JSON.stringify(join(ROOT, 'dist/browser/src/client/browser.js'))};`,
          `export async function page(): Promise<Uint8Array> {`,
          `  const conn = await connect('ws://guest:guest@localhost:15672/ws');`,
          `  const ch = await conn.channel();`,
          `  await ch.publish('', 'q', new TextEncoder().encode('hi'));`,
          `  const m: Message | null = await ch.get('q');`,
          `  const body: Uint8Array = m === null ? new Uint8Array(0) : m.body;`,
          `  // @ts-expect-error a browser body is no Buffer`,
          `  m?.body.readUInt8(0);`,
          `  return body;`,
          `}`,
        ].join('\n'),
      );
      writeFileSync(
        join(dir, 'tsconfig.json'),
        JSON.stringify({
          compilerOptions: { target: 'ES2022', module: 'ESNext', moduleResolution: 'Bundler', lib: ['ES2022', 'DOM'], types: [], strict: true, noEmit: true, skipLibCheck: false },
          files: ['page.ts'],
        }),
      );
      const tsc = join(ROOT, 'node_modules/typescript/bin/tsc');
      const out = await run(process.execPath, [tsc, '-p', dir]).then(
        () => '',
        (err: { stdout: string }) => err.stdout,
      );
      expect(out).toBe('');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
