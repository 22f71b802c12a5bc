import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Asset } from './dashboard.js';

/**
 * The browser client as a page loads it without a bundler: the ES modules of `skiffmq/browser`
 * (dist/browser) at `/lib/skiff/…` and msgpackr's browser build at `/lib/msgpackr/…`, which an
 * import map names `msgpackr`; and the market-data example at `/examples/market-data`, a page
 * that uses them. Files are read once at start into a fixed table: no path from a request ever
 * reaches the file system.
 */

const JS = 'text/javascript; charset=utf-8';

/** The package root: the nearest directory up from here whose package.json is skiffmq's. */
function packageRoot(): string | null {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const p = join(dir, 'package.json');
    if (existsSync(p)) {
      try {
        if ((JSON.parse(readFileSync(p, 'utf8')) as { name?: string }).name === 'skiffmq') return dir;
      } catch {
        // not ours; keep looking
      }
    }
    const up = dirname(dir);
    if (up === dir) return null;
    dir = up;
  }
}

/** `.js` files under `dir`, by path relative to it (with `/`). */
function jsFiles(dir: string, recursive: boolean): Map<string, string> {
  const out = new Map<string, string>();
  if (!existsSync(dir)) return out;
  const walk = (d: string): void => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) {
        if (recursive) walk(p);
      } else if (name.endsWith('.js')) out.set(relative(dir, p).split(sep).join('/'), p);
    }
  };
  walk(dir);
  return out;
}

function msgpackrDir(): string | null {
  try {
    // Resolves to its CommonJS build (dist/node.cjs): the package root is the directory holding index.js.
    let dir = dirname(createRequire(import.meta.url).resolve('msgpackr'));
    while (!existsSync(join(dir, 'index.js')) || !existsSync(join(dir, 'package.json'))) {
      const up = dirname(dir);
      if (up === dir) return null;
      dir = up;
    }
    return dir;
  } catch {
    return null;
  }
}

async function asset(path: string, type: string): Promise<Asset | null> {
  const body = await readFile(path).catch(() => null);
  return body === null ? null : { body, type, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 16)}"` };
}

/** The import map every page using the client needs (msgpackr is the client's one dependency). */
export const IMPORT_MAP = JSON.stringify({ imports: { msgpackr: '/lib/msgpackr/index.js' } });
const IMPORT_MAP_HASH = createHash('sha256').update(IMPORT_MAP).digest('base64');

/** Own files only, plus the one inline script: the import map, by hash. */
const CSP = `default-src 'none'; script-src 'self' 'sha256-${IMPORT_MAP_HASH}'; style-src 'self' 'unsafe-inline'; connect-src 'self' ws: wss:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`;

/** Reads the browser client and the examples into memory, once. */
export async function loadBrowserAssets(): Promise<ReadonlyMap<string, Asset>> {
  const out = new Map<string, Asset>();
  const root = packageRoot();
  if (root !== null) {
    for (const [rel, p] of jsFiles(join(root, 'dist', 'browser'), true)) {
      const a = await asset(p, JS);
      if (a !== null) out.set(`/lib/skiff/${rel}`, a);
    }
  }
  const mp = msgpackrDir();
  if (mp !== null) {
    for (const [rel, p] of jsFiles(mp, false)) {
      const a = await asset(p, JS);
      if (a !== null) out.set(`/lib/msgpackr/${rel}`, a);
    }
  }
  const examples = fileURLToPath(new URL('./examples/', import.meta.url));
  const source = root === null ? examples : join(root, 'src', 'server', 'http', 'examples');
  for (const dir of [examples, source]) {
    const html = await asset(join(dir, 'market-data.html'), 'text/html; charset=utf-8');
    const js = await asset(join(dir, 'market-data.js'), JS);
    if (html !== null && js !== null) {
      const body = Buffer.from(html.body.toString('utf8').replace('{{IMPORT_MAP}}', IMPORT_MAP));
      out.set('/examples/market-data', { ...html, body });
      out.set('/examples/market-data.js', js);
      break;
    }
  }
  return out;
}

/** Serves the browser client and the examples; no login (the pages log in over the WebSocket). */
export function registerBrowserClient(app: FastifyInstance, assets: ReadonlyMap<string, Asset>): void {
  const open = { config: { access: 'none' as const } };
  for (const [path, a] of assets) {
    app.get(path, open, (req: FastifyRequest, reply: FastifyReply) => {
      reply.header('etag', a.etag).header('cache-control', 'no-cache').header('content-security-policy', CSP).type(a.type);
      if (req.headers['if-none-match'] === a.etag) return reply.code(304).send();
      return reply.send(a.body);
    });
  }
}
