import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { DEFAULT_HOST, DEFAULT_PORT, DEFAULT_TLS_PORT } from '../protocol/defaults.js';
import { connect, type Connection } from '../src/client/index.js';
import { usageError } from './exit.js';
import type { Io } from './io.js';

/** The options every command that talks to a daemon takes (see {@link addTargetOptions}). */
export interface TargetOptions {
  url?: string;
  host?: string;
  port?: string;
  user?: string;
  password?: string;
  json?: boolean;
  tls?: boolean;
  ca?: string;
  vhost?: string;
}

interface Target {
  host: string;
  port: number;
  user: string;
  password: string;
  /** `skiffs://` or --tls: TLS, verifying the daemon (against --ca when given). */
  tls: boolean;
  /** The vhost a command works in (--vhost, the URL's path, SKIFF_VHOST; default `/`). */
  vhost: string;
}

/** Adds --url/--host/--port/--user/--password/--json to a command. */
export function addTargetOptions(cmd: Command): Command {
  return cmd
    .option('--url <url>', 'daemon URL, skiff://user:password@host:port or skiffs://… for TLS (env SKIFF_URL)')
    .option('-H, --host <host>', `daemon host (env SKIFF_HOST; default ${DEFAULT_HOST})`)
    .option('-p, --port <port>', `daemon port (env SKIFF_PORT; default ${DEFAULT_PORT})`)
    .option('-u, --user <name>', 'user name (env SKIFF_USER; default guest)')
    .option('--password <password>', 'password (env SKIFF_PASSWORD; default guest)')
    .option('--tls', 'connect over TLS (as a skiffs:// URL does; default port 5681)')
    .option('--ca <file>', "PEM CA to verify the daemon's certificate with (env SKIFF_CA; default: the system's)")
    .option('--vhost <name>', "virtual host to work in (env SKIFF_VHOST; or the URL's path, skiff://host/vhost; default /)")
    .option('--json', 'print JSON for scripts instead of tables');
}

function fromUrl(url: string, source: string): Partial<Target> {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw usageError(`${source}: invalid URL '${url}'`);
  }
  if (u.protocol !== 'skiff:' && u.protocol !== 'skiffs:') throw usageError(`${source}: URL must start with skiff:// or skiffs:// (got '${u.protocol}')`);
  const out: Partial<Target> = { tls: u.protocol === 'skiffs:' };
  if (u.hostname !== '') out.host = u.hostname.replace(/^\[|\]$/g, '');
  if (u.port !== '') out.port = Number(u.port);
  if (u.username !== '') out.user = decodeURIComponent(u.username);
  if (u.password !== '') out.password = decodeURIComponent(u.password);
  if (u.pathname !== '' && u.pathname !== '/') {
    try {
      out.vhost = decodeURIComponent(u.pathname.slice(1));
    } catch {
      throw usageError(`${source}: the vhost in '${url}' is not valid percent-encoding`);
    }
  }
  return out;
}

function port(text: string, source: string): number {
  const n = /^[0-9]+$/.test(text) ? Number(text) : NaN;
  if (!(n >= 1 && n <= 65535)) throw usageError(`${source}: port must be an integer from 1 to 65535, got '${text}'`);
  return n;
}

/**
 * Where to connect. For each part the first given wins: its own flag, then the --url flag,
 * then its environment variable, then SKIFF_URL, then the default (guest on 127.0.0.1:5680).
 */
export function resolveTarget(opts: TargetOptions, env: Io['env']): Target {
  const sources: Partial<Target>[] = [
    {
      ...(opts.host !== undefined && { host: opts.host }),
      ...(opts.port !== undefined && { port: port(opts.port, '--port') }),
      ...(opts.user !== undefined && { user: opts.user }),
      ...(opts.password !== undefined && { password: opts.password }),
      ...(opts.tls === true && { tls: true }),
      ...(opts.vhost !== undefined && { vhost: opts.vhost }),
    },
    opts.url !== undefined ? fromUrl(opts.url, '--url') : {},
    {
      ...(env['SKIFF_HOST'] && { host: env['SKIFF_HOST'] }),
      ...(env['SKIFF_PORT'] && { port: port(env['SKIFF_PORT'], 'SKIFF_PORT') }),
      ...(env['SKIFF_USER'] && { user: env['SKIFF_USER'] }),
      ...(env['SKIFF_PASSWORD'] !== undefined && { password: env['SKIFF_PASSWORD'] }),
      ...(env['SKIFF_VHOST'] && { vhost: env['SKIFF_VHOST'] }),
    },
    env['SKIFF_URL'] ? fromUrl(env['SKIFF_URL'], 'SKIFF_URL') : {},
    { host: DEFAULT_HOST, user: 'guest', password: 'guest', tls: false, vhost: '/' },
  ];
  const pick = <K extends keyof Target>(k: K): Target[K] | undefined => sources.find((s) => s[k] !== undefined)?.[k] as Target[K] | undefined;
  const tls = pick('tls') === true;
  return {
    host: pick('host') as string,
    port: pick('port') ?? (tls ? DEFAULT_TLS_PORT : DEFAULT_PORT),
    user: pick('user') as string,
    password: pick('password') as string,
    tls,
    vhost: pick('vhost') as string,
  };
}

/** The vhost a command names (what admin requests carry). */
export function targetVhost(opts: TargetOptions, io: Io): string {
  return resolveTarget(opts, io.env).vhost;
}

/**
 * Connects and runs `fn`, closing the connection afterwards whatever happens. `in: 'vhost'`
 * (declare, publish, consume, …) opens the target vhost; admin commands open the default one
 * and name the vhost in each request, so an administrator manages a vhost they have no
 * permissions in (a new one, say) as `rabbitmqctl -p` does.
 */
export async function withConnection<T>(opts: TargetOptions, io: Io, fn: (conn: Connection) => Promise<T>, where: { in: 'vhost' | 'admin' } = { in: 'admin' }): Promise<T> {
  const t = resolveTarget(opts, io.env);
  const host = t.host.includes(':') ? `[${t.host}]` : t.host;
  const path = where.in === 'vhost' && t.vhost !== '/' ? `/${encodeURIComponent(t.vhost)}` : '';
  const url = `${t.tls ? 'skiffs' : 'skiff'}://${encodeURIComponent(t.user)}:${encodeURIComponent(t.password)}@${host}:${t.port}${path}`;
  const caFile = opts.ca ?? (io.env['SKIFF_CA'] || undefined);
  let ca: Buffer | undefined;
  if (caFile !== undefined) {
    try {
      ca = readFileSync(caFile);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      throw usageError(`--ca: cannot read '${caFile}': ${e.code === 'ENOENT' ? 'no such file' : e.message}`);
    }
  }
  // A command fails fast (exit 3) rather than waiting out a broker restart.
  const conn = await connect(url, { connectionName: 'skiff-cli', timeoutMs: 5000, reconnect: false, ...(ca !== undefined && { tls: { ca } }) });
  try {
    return await fn(conn);
  } finally {
    if (conn.isOpen) await conn.close();
  }
}
