import { DEFAULT_HOST, DEFAULT_PORT, DEFAULT_TLS_PORT } from '../../protocol/defaults.js';
import { ConnectionError } from './errors.js';

/** The URL a client connects to when given none. */
export const DEFAULT_URL = `skiff://guest:guest@${DEFAULT_HOST}:${DEFAULT_PORT}`;

/** One server to connect to, with the credentials to log in with. */
export interface ParsedUrl {
  host: string;
  port: number;
  username: string;
  password: string;
  /** `skiffs://`: TLS, verifying the server's certificate (default port 5681). */
  tls: boolean;
}

/**
 * Reads `skiff://user:password@host:port` or `skiffs://…` (TLS). Missing parts default to guest
 * on 127.0.0.1 and port 5680 (5681 for skiffs); a user without a password logs in with an empty
 * one.
 */
export function parseUrl(url: string): ParsedUrl {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new ConnectionError('ERR_INVALID_URL', `invalid URL '${url}'`);
  }
  if (u.protocol !== 'skiff:' && u.protocol !== 'skiffs:') {
    throw new ConnectionError('ERR_INVALID_URL', `URL must start with skiff:// or skiffs:// (got '${u.protocol}')`);
  }
  const tls = u.protocol === 'skiffs:';
  return {
    tls,
    host: u.hostname.replace(/^\[|\]$/g, '') || DEFAULT_HOST,
    port: u.port === '' ? (tls ? DEFAULT_TLS_PORT : DEFAULT_PORT) : Number(u.port),
    username: u.username === '' ? 'guest' : decodeURIComponent(u.username),
    password: u.password === '' ? (u.username === '' ? 'guest' : '') : decodeURIComponent(u.password),
  };
}

/** Parses one URL or a list of them (tried in turn); an empty list is an error. */
export function parseUrls(urls: string | readonly string[]): ParsedUrl[] {
  const list = typeof urls === 'string' ? [urls] : urls;
  if (list.length === 0) throw new ConnectionError('ERR_INVALID_URL', 'connect needs at least one URL');
  return list.map(parseUrl);
}
