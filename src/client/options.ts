import { SkiffError } from './errors.js';
import type { TlsClientOptions, TransportFactory } from './transport/transport.js';

/** Options of `connect`. Every one has a default; see the README's client section. */
export interface ConnectOptions {
  /** Heartbeat interval to ask for, ms; 0 turns heartbeats off. Default 60 000 (the lower of ours and the server's wins). */
  heartbeatMs?: number;
  /** Largest frame to ask for; 0 = the server's. */
  frameMax?: number;
  channelMax?: number;
  /** Shown in the server's connection list. */
  connectionName?: string;
  /**
   * The virtual host to open, over the URL's (`skiff://host/vhost`, `ws://host/ws?vhost=…`).
   * Default: the URL's, else `/`.
   */
  vhost?: string;
  /** Give up one connection attempt to one host (socket and handshake) after this long. Default 10 000 ms. */
  timeoutMs?: number;
  /** Outgoing bytes buffered before `publish` makes the caller wait and `tryPublish` returns false. Default 1 MiB. */
  writeHighWaterMark?: number;
  /**
   * Reconnect after the connection is lost (default: on, with the defaults of
   * {@link ReconnectOptions}). `false` turns it off: a lost connection then ends it, as a close
   * does. Only a connection that was once open reconnects: a failed `connect` rejects.
   */
  reconnect?: boolean | ReconnectOptions;
  /** With several URLs, try them in a random order (once per round) instead of the order given. Default false. */
  shuffleHosts?: boolean;
  /** How to reach the server; TCP in Node.js. */
  transport?: TransportFactory;
  /** For `skiffs://` URLs: the CA to verify the server with, a client certificate for mutual TLS. */
  tls?: TlsClientOptions;
  /**
   * `PLAIN` (default): the URL's user and password. `EXTERNAL`: log in as the user the client
   * certificate (`tls.cert`) names, with no password; the server must have `tls_cert_login` on.
   */
  mechanism?: 'PLAIN' | 'EXTERNAL';
}

/**
 * How a lost connection is re-established. Attempt n waits
 * `min(maxDelayMs, initialDelayMs × multiplier^(n−1))`, shortened by a random fraction of up to
 * `jitter` (so many clients cut off at once do not return in lockstep), then tries every URL in
 * turn.
 */
export interface ReconnectOptions {
  /** Delay before the first attempt, ms. Default 100. */
  initialDelayMs?: number;
  /** Cap on the delay between attempts, ms. Default 10 000. */
  maxDelayMs?: number;
  /** Growth of the delay per attempt. Default 2. */
  multiplier?: number;
  /** Fraction of each delay that is randomised, 0 to 1: the wait is `delay × (1 − jitter × random)`. Default 0.5. */
  jitter?: number;
  /** Attempts (rounds over every URL) before giving up and closing the connection. Default Infinity. */
  maxAttempts?: number;
  /**
   * Publish again, after reconnecting, every message whose confirm was outstanding when the
   * connection was lost, instead of rejecting its promise with a retriable
   * `ConnectionLostError`. At least once: the broker may have taken a message before the
   * connection went, so duplicates are possible. Default false. The body must not be changed
   * until its publish settles.
   */
  republishUnconfirmed?: boolean;
  /** Bytes of message bodies `publish` holds while disconnected; past it, `publish` rejects at once (`ERR_PUBLISH_BUFFER_FULL`). Default 8 MiB; 0 holds nothing. */
  bufferBytes?: number;
  /** How long a held publish waits for the connection to come back before it rejects (`ERR_PUBLISH_TIMEOUT`), ms; 0 waits as long as it takes. Default 30 000. */
  bufferTimeoutMs?: number;
}

/** {@link ReconnectOptions} with every default filled in. */
export type ReconnectSettings = Required<ReconnectOptions>;

export const RECONNECT_DEFAULTS: Readonly<ReconnectSettings> = Object.freeze({
  initialDelayMs: 100,
  maxDelayMs: 10_000,
  multiplier: 2,
  jitter: 0.5,
  maxAttempts: Infinity,
  republishUnconfirmed: false,
  bufferBytes: 8 * 1024 * 1024,
  bufferTimeoutMs: 30_000,
});

function invalid(key: string, rule: string, got: unknown): SkiffError {
  return new SkiffError('ERR_INVALID_OPTION', `${key} must be ${rule}, got ${typeof got === 'string' ? `'${got}'` : String(got)}`);
}

function number(o: Record<string, unknown>, key: string, prefix: string, min: number, max: number, rule: string, allowInfinity = false): void {
  const v = o[key];
  if (v === undefined) return;
  const ok = typeof v === 'number' && !Number.isNaN(v) && v >= min && v <= max && (allowInfinity || Number.isFinite(v));
  if (!ok) throw invalid(`${prefix}${key}`, rule, v);
}

/** Checks the options and fills in the reconnect defaults; `null` when reconnecting is off. */
export function reconnectSettings(options: ConnectOptions): ReconnectSettings | null {
  const o = options as Record<string, unknown>;
  number(o, 'heartbeatMs', '', 0, 2 ** 31, 'a number of ms from 0');
  number(o, 'timeoutMs', '', 1, 2 ** 31, 'a number of ms from 1');
  number(o, 'writeHighWaterMark', '', 1, Number.MAX_SAFE_INTEGER, 'a number of bytes from 1');
  const r = options.reconnect;
  if (r === false) return null;
  if (r === undefined || r === true) return { ...RECONNECT_DEFAULTS };
  if (typeof r !== 'object' || r === null) throw invalid('reconnect', 'a boolean or an object', r);
  const ro = r as Record<string, unknown>;
  for (const k of Object.keys(ro)) {
    if (!(k in RECONNECT_DEFAULTS)) throw new SkiffError('ERR_INVALID_OPTION', `unknown option reconnect.${k}`);
  }
  number(ro, 'initialDelayMs', 'reconnect.', 0, 2 ** 31, 'a number of ms from 0');
  number(ro, 'maxDelayMs', 'reconnect.', 0, 2 ** 31, 'a number of ms from 0');
  number(ro, 'multiplier', 'reconnect.', 1, 1000, 'a number from 1');
  number(ro, 'jitter', 'reconnect.', 0, 1, 'a number from 0 to 1');
  number(ro, 'maxAttempts', 'reconnect.', 1, Infinity, 'a number from 1 (or Infinity)', true);
  number(ro, 'bufferBytes', 'reconnect.', 0, Number.MAX_SAFE_INTEGER, 'a number of bytes from 0');
  number(ro, 'bufferTimeoutMs', 'reconnect.', 0, 2 ** 31, 'a number of ms from 0');
  if (ro['republishUnconfirmed'] !== undefined && typeof ro['republishUnconfirmed'] !== 'boolean') {
    throw invalid('reconnect.republishUnconfirmed', 'a boolean', ro['republishUnconfirmed']);
  }
  const s: ReconnectSettings = { ...RECONNECT_DEFAULTS };
  for (const [k, v] of Object.entries(ro)) if (v !== undefined) (s as Record<string, unknown>)[k] = v;
  if (s.maxDelayMs < s.initialDelayMs) {
    throw new SkiffError('ERR_INVALID_OPTION', `reconnect.maxDelayMs (${s.maxDelayMs}) must not be below reconnect.initialDelayMs (${s.initialDelayMs})`);
  }
  return s;
}

/** The wait before reconnect attempt `attempt` (1-based); `random` is in [0, 1). */
export function backoffDelay(s: ReconnectSettings, attempt: number, random: number): number {
  const base = Math.min(s.maxDelayMs, s.initialDelayMs * s.multiplier ** (attempt - 1));
  return Math.round(base * (1 - s.jitter * random));
}
