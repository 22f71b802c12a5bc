import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from '../helpers/server.js';

/**
 * The package as a user gets it: `npm pack` of this checkout (dist built by `npm test`'s
 * pretest), installed into a scratch project, where `import { connect } from 'skiffmq'` and
 * `npx skiff` must work. Offline: the scratch project's lockfile pins skiffmq's dependencies to
 * the versions and integrity hashes of this checkout's lockfile, which `npm ci` here has
 * already put in npm's cache. `--ignore-scripts`: better-sqlite3's native build is the
 * daemon's, and neither the client nor the admin CLI loads it.
 */

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  name: string;
  version: string;
  license: string;
  dependencies: Record<string, string>;
  bin: Record<string, string>;
  engines: Record<string, string>;
};
const work = mkdtempSync(join(tmpdir(), 'skiff-pack-'));
let ts: TestServer | null = null;
afterAll(async () => {
  await ts?.stop();
  rmSync(work, { recursive: true, force: true });
});

/** A lockfile for a project depending on the tarball, with the dependencies pinned as in ours. */
function scratchLock(tarball: string): unknown {
  const root = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean; link?: boolean }> };
  const integrity = `sha512-${createHash('sha512').update(readFileSync(tarball)).digest('base64')}`;
  const spec = `file:${tarball}`;
  const packages: Record<string, unknown> = {
    '': { name: 'scratch', version: '1.0.0', dependencies: { skiffmq: spec } },
    'node_modules/skiffmq': { version: pkg.version, resolved: spec, integrity, license: pkg.license, dependencies: pkg.dependencies, bin: pkg.bin, engines: pkg.engines },
  };
  for (const [k, v] of Object.entries(root.packages)) if (k.startsWith('node_modules/') && v.dev !== true && v.link !== true) packages[k] = v;
  return { name: 'scratch', version: '1.0.0', lockfileVersion: 3, requires: true, packages };
}

describe('the npm package', () => {
  it('packs, installs into another project offline, and works there as `skiffmq` and `npx skiff`', { timeout: 180_000 }, async () => {
    const { stdout } = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', work], { cwd: ROOT });
    const [packed] = JSON.parse(stdout) as { filename: string; files: { path: string }[] }[];
    const files = (packed?.files ?? []).map((f) => f.path);
    expect(files).toEqual(
      expect.arrayContaining([
        'package.json',
        'README.md',
        'dist/src/client/index.js',
        'dist/src/client/index.d.ts',
        'dist/cli/skiff.js',
        'dist/protocol/index.js',
        'dist/browser/src/client/browser.js',
        'dist/browser/src/client/browser.d.ts',
      ]),
    );
    // No sources, tests or benches; the dashboard's and the examples' static files are served from where they sit.
    const shipped = files.filter((f) => f.startsWith('src/') || f.startsWith('test/') || f.startsWith('bench/'));
    expect(shipped.filter((f) => !f.startsWith('src/server/http/dashboard/') && !f.startsWith('src/server/http/examples/'))).toEqual([]);
    expect(shipped).toEqual(
      expect.arrayContaining(['src/server/http/dashboard/index.html', 'src/server/http/dashboard/app.js', 'src/server/http/examples/market-data.html', 'src/server/http/examples/market-data.js']),
    );
    const tarball = join(work, packed?.filename as string);

    const app = join(work, 'app');
    mkdirSync(app);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'scratch', version: '1.0.0', type: 'module', dependencies: { skiffmq: `file:${tarball}` } }));
    writeFileSync(join(app, 'package-lock.json'), JSON.stringify(scratchLock(tarball)));
    await run('npm', ['ci', '--offline', '--ignore-scripts', '--no-audit', '--no-fund'], { cwd: app });

    ts = await startServer();
    writeFileSync(
      join(app, 'main.mjs'),
      `import { connect, ConnectionLostError, RECONNECT_DEFAULTS } from 'skiffmq';
const conn = await connect(process.argv[2]);
const ch = await conn.channel();
const { queue } = await ch.declareQueue('', { exclusive: true });
await ch.confirmSelect();
await ch.publish('', queue, 'hello from a scratch project');
const m = await ch.get(queue, { noAck: true });
console.log(JSON.stringify({ body: m.text(), retriable: new ConnectionLostError('x', null).retriable, maxDelayMs: RECONNECT_DEFAULTS.maxDelayMs }));
await conn.close();
`,
    );
    const main = await run(process.execPath, ['main.mjs', ts.url], { cwd: app });
    expect(JSON.parse(main.stdout)).toEqual({ body: 'hello from a scratch project', retriable: true, maxDelayMs: 10_000 });

    const version = await run('npx', ['--offline', '--no-install', 'skiff', '--version'], { cwd: app });
    expect(version.stdout.trim()).toBe(pkg.version);
    await run('npx', ['--offline', '--no-install', 'skiff', 'declare', 'queue', 'from-npx', '-p', String(ts.port)], { cwd: app });
    expect(ts.broker.queues.has('from-npx')).toBe(true);
  });
});
