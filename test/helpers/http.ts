import { request as httpRequest } from 'node:http';
import { connect, type Connection } from '../../src/client/index.js';
import { resolveConfig, type ConfigOverrides } from '../../src/config/load.js';
import { startDaemon, type Daemon } from '../../src/daemon.js';
import type { Authenticator } from '../../src/server/auth.js';
import { silentLogger } from '../../src/log/logger.js';
import { UserAuthenticator, hashPassword, parsePasswordHash, type PasswordHash } from '../../src/server/auth.js';

/** A reply as a test looks at it: status, headers and the body, parsed when it is JSON. */
export interface HttpReply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  json: any;
}

export interface RequestOptions {
  /** `user:password`; default guest:guest; null sends no credentials. */
  auth?: string | null;
  /** Sent as JSON with content-type application/json unless `raw` is given. */
  body?: unknown;
  raw?: string | Buffer;
  headers?: Record<string, string>;
}

/** One HTTP request over a real socket (node:http, no keep-alive). */
export function request(port: number, method: string, path: string, o: RequestOptions = {}): Promise<HttpReply> {
  const headers: Record<string, string> = { ...o.headers };
  const auth = o.auth === undefined ? 'guest:guest' : o.auth;
  if (auth !== null) headers['authorization'] = `Basic ${Buffer.from(auth).toString('base64')}`;
  let payload: Buffer | null = null;
  if (o.raw !== undefined) payload = Buffer.from(o.raw);
  else if (o.body !== undefined) {
    payload = Buffer.from(JSON.stringify(o.body));
    headers['content-type'] ??= 'application/json';
  }
  if (payload !== null) headers['content-length'] = String(payload.length);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, method, path, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: unknown = undefined;
        if ((res.headers['content-type'] ?? '').includes('json') && text !== '') json = JSON.parse(text);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(payload ?? undefined);
  });
}

export const FAST_SCRYPT = { ln: 10, r: 8, p: 1 };

export async function users(list: { name: string; password: string; admin: boolean }[]): Promise<UserAuthenticator> {
  const out = [];
  for (const u of list) out.push({ name: u.name, admin: u.admin, passwordHash: parsePasswordHash(await hashPassword(u.password, FAST_SCRYPT)) as PasswordHash });
  return new UserAuthenticator({ users: out });
}

/** A daemon with its HTTP listener on port 0, and helpers bound to it. */
export interface HttpDaemon {
  readonly daemon: Daemon;
  readonly httpPort: number;
  get(path: string, o?: RequestOptions): Promise<HttpReply>;
  put(path: string, body?: unknown, o?: RequestOptions): Promise<HttpReply>;
  post(path: string, body?: unknown, o?: RequestOptions): Promise<HttpReply>;
  del(path: string, o?: RequestOptions): Promise<HttpReply>;
  /** A client connection (closed by stop()). */
  client(user?: string, name?: string): Promise<Connection>;
  stop(): Promise<void>;
}

/** Config keys to set, and the users to log in with; durable only when given `store.dataDir`. */
export type HttpDaemonOptions = ConfigOverrides & { auth?: Authenticator };

export async function startHttpDaemon({ auth, ...overrides }: HttpDaemonOptions = {}): Promise<HttpDaemon> {
  const config = resolveConfig({
    host: '127.0.0.1',
    port: 0,
    ...overrides,
    http: { port: 0, statsIntervalMs: 100, ...overrides.http },
    amqp: { port: 0, ...overrides.amqp },
  });
  const daemon = await startDaemon(config, { log: silentLogger(), memoryOnly: overrides.store?.dataDir === undefined, ...(auth !== undefined && { auth }) });
  const httpPort = daemon.http?.address?.port ?? 0;
  const clients: Connection[] = [];
  return {
    daemon,
    httpPort,
    get: (path, o) => request(httpPort, 'GET', path, o),
    put: (path, body, o) => request(httpPort, 'PUT', path, { body: body ?? {}, ...o }),
    post: (path, body, o) => request(httpPort, 'POST', path, { body: body ?? {}, ...o }),
    del: (path, o) => request(httpPort, 'DELETE', path, o),
    async client(user = 'guest:guest', name?: string) {
      const c = await connect(`skiff://${user}@127.0.0.1:${daemon.port}`, { heartbeatMs: 0, reconnect: false, ...(name !== undefined && { connectionName: name }) });
      clients.push(c);
      return c;
    },
    async stop() {
      await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
      await daemon.stop();
    },
  };
}

/** Polls `read` (bounded) until `ok` holds for what it returns; for values the sampler updates. */
export async function eventually<T>(read: () => Promise<T>, ok: (v: T) => boolean, what: string, ms = 5000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await read();
    if (ok(v)) return v;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}; last: ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
