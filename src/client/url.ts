import { DEFAULT_HOST, DEFAULT_PORT, DEFAULT_TLS_PORT } from '../../protocol/defaults.js';
import { ConnectionError } from './errors.js';

/** The URL a client connects to when given none. */
export const DEFAULT_URL = `skiff://guest:guest@${DEFAULT_HOST}:${DEFAULT_PORT}`;

/** How a URL reaches the server: the native protocol over TCP (skiffs: with TLS), or over a WebSocket. */
export type UrlScheme = 'skiff' | 'skiffs' | 'ws' | 'wss';

/** One server to connect to, with the credentials to log in with. */
export interface ParsedUrl {
  scheme: UrlScheme;
  host: string;
  port: number;
  /** The WebSocket endpoint's path (`/ws` unless the URL names one); '' for `skiff://` and `skiffs://`. */
  path: string;
  username: string;
  password: string;
  /**
   * The virtual host: the path of a `skiff://` / `skiffs://` URL as in AMQP URIs (`/` when
   * there is none, `%2F` for `/`), the `vhost` query parameter of a `ws://` / `wss://` one.
   */
  vhost: string;
  /** `skiffs://` (and `wss://`): TLS, verifying the server's certificate. */
  tls: boolean;
}

const DEFAULT_PORTS: Record<UrlScheme, number> = { skiff: DEFAULT_PORT, skiffs: DEFAULT_TLS_PORT, ws: 80, wss: 443 };

/**
 * Reads `skiff://user:password@host:port` (TCP), `skiffs://…` (TLS), or `ws://` /
 * `wss://user:password@host:port/ws` (WebSocket). Missing parts default to guest on 127.0.0.1,
 * port 5680 (5681 for skiffs) and the web's ports (80, 443) for ws:// and wss://; a user
 * without a password logs in with an empty one. The credentials are sent in the handshake,
 * never as part of the URL the transport opens.
 */
export function parseUrl(url: string): ParsedUrl {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new ConnectionError('ERR_INVALID_URL', `invalid URL '${redact(url)}'`);
  }
  const scheme = u.protocol.slice(0, -1);
  if (scheme !== 'skiff' && scheme !== 'skiffs' && scheme !== 'ws' && scheme !== 'wss') {
    throw new ConnectionError('ERR_INVALID_URL', `URL must start with skiff://, skiffs://, ws:// or wss:// (got '${u.protocol}')`);
  }
  const ws = scheme === 'ws' || scheme === 'wss';
  const path = !ws ? '' : u.pathname === '' || u.pathname === '/' ? '/ws' : u.pathname;
  let vhost = '/';
  if (ws) {
    const named = u.searchParams.get('vhost');
    if (named !== null) {
      vhost = named;
      u.searchParams.delete('vhost');
    }
  } else if (u.pathname !== '' && u.pathname !== '/') {
    // As in AMQP URIs: the path after the first '/' is the vhost, one segment, percent-decoded.
    const segment = u.pathname.slice(1);
    if (segment.includes('/')) throw new ConnectionError('ERR_INVALID_URL', `the vhost in '${redact(url)}' must be one path segment (write '/' as %2F)`);
    try {
      vhost = decodeURIComponent(segment);
    } catch {
      throw new ConnectionError('ERR_INVALID_URL', `the vhost in '${redact(url)}' is not valid percent-encoding`);
    }
  }
  return {
    scheme,
    host: u.hostname.replace(/^\[|\]$/g, '') || DEFAULT_HOST,
    port: u.port === '' ? DEFAULT_PORTS[scheme] : Number(u.port),
    path: ws ? path + u.search : path,
    username: u.username === '' ? 'guest' : decodeURIComponent(u.username),
    password: u.password === '' ? (u.username === '' ? 'guest' : '') : decodeURIComponent(u.password),
    tls: scheme === 'skiffs' || scheme === 'wss',
    vhost,
  };
}

/** `url` without its password, for error messages. */
function redact(url: string): string {
  return url.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@');
}

/** Parses one URL or a list of them (tried in turn); an empty list is an error. */
export function parseUrls(urls: string | readonly string[]): ParsedUrl[] {
  const list = typeof urls === 'string' ? [urls] : urls;
  if (list.length === 0) throw new ConnectionError('ERR_INVALID_URL', 'connect needs at least one URL');
  return list.map(parseUrl);
}
