import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

/** The dashboard's files: plain HTML, CSS and JavaScript, no build step and nothing from the internet. */
const FILES: Readonly<Record<string, string>> = {
  'index.html': 'text/html; charset=utf-8',
  'app.js': 'text/javascript; charset=utf-8',
  'views.js': 'text/javascript; charset=utf-8',
  'dom.js': 'text/javascript; charset=utf-8',
  'chart.js': 'text/javascript; charset=utf-8',
  'style.css': 'text/css; charset=utf-8',
  'favicon.svg': 'image/svg+xml',
};

export interface Asset {
  body: Buffer;
  type: string;
  etag: string;
}

export type DashboardAssets = ReadonlyMap<string, Asset>;

/**
 * The source tree holds the files (`src/server/http/dashboard/`); the daemon runs from `dist/`,
 * where tsc copies nothing but JavaScript, so both places are looked at.
 */
function assetDir(): string | null {
  for (const rel of ['./dashboard/', '../../../../src/server/http/dashboard/']) {
    const dir = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(`${dir}index.html`)) return dir;
  }
  return null;
}

/** Reads the dashboard into memory once, at start; an empty map when the files are not there. */
export async function loadDashboardAssets(): Promise<DashboardAssets> {
  const dir = assetDir();
  const out = new Map<string, Asset>();
  if (dir === null) return out;
  for (const [name, type] of Object.entries(FILES)) {
    // A broken install costs the dashboard a file (404), never the daemon its start.
    const body = await readFile(`${dir}${name}`).catch(() => null);
    if (body !== null) out.set(name, { body, type, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 16)}"` });
  }
  return out;
}

/** Only our own files and our own API: no inline script, nothing from elsewhere, no framing. */
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/** Serves the dashboard at `/` (its files need no login; the page asks, and every API call sends it). */
export function registerDashboard(app: FastifyInstance, assets: DashboardAssets): void {
  const open = { config: { access: 'none' as const } };
  const send = (name: string) => (req: FastifyRequest, reply: FastifyReply) => {
    const a = assets.get(name);
    if (a === undefined) return reply.code(404).send({ error: 'not_found', reason: 'the dashboard files are not installed (src/server/http/dashboard/)' });
    reply.header('etag', a.etag).header('cache-control', 'no-cache').header('content-security-policy', CSP).type(a.type);
    if (req.headers['if-none-match'] === a.etag) return reply.code(304).send();
    return reply.send(a.body);
  };
  app.get('/', open, send('index.html'));
  for (const name of Object.keys(FILES)) if (name !== 'index.html') app.get(`/dashboard/${name}`, open, send(name));
}
