/** WebSocket endpoint settings (config keys in parentheses; see config.example.toml). */
export interface WsOptions {
  /** Mount `/ws` on the HTTP listener (`ws_enabled`). Default true. */
  enabled: boolean;
  /** A port of its own as well, or -1 for none (`ws_port`); 0 picks a free one. Default -1. */
  port: number;
  /** Address that port binds (`ws_host`). Default 127.0.0.1. */
  host: string;
  /**
   * Origins a browser page may connect from besides the endpoint's own (`ws_allowed_origins`,
   * comma-separated): `https://app.example.com`, or `*` for any. Default none: cross-origin pages
   * are refused, same-origin pages and clients that send no Origin (not browsers) are let in.
   */
  allowedOrigins: readonly string[];
  /** Open WebSockets one IP address may hold (`ws_max_connections_per_ip`); 0 = no limit. Default 1000. */
  maxConnectionsPerIp: number;
  /** A socket that has not completed its protocol's handshake within this long is closed (`ws_handshake_timeout_ms`). Default 10 s. */
  handshakeTimeoutMs: number;
  /**
   * Pings every half of this; a socket that answers nothing (no pong, no message) for this long
   * is dropped (`ws_idle_timeout_ms`), so a vanished browser is noticed even without protocol
   * heartbeats. 0 = never. Default 60 s.
   */
  idleTimeoutMs: number;
}

export const DEFAULT_WS_OPTIONS: Readonly<WsOptions> = Object.freeze({
  enabled: true,
  port: -1,
  host: '127.0.0.1',
  allowedOrigins: Object.freeze([]) as readonly string[],
  maxConnectionsPerIp: 1000,
  handshakeTimeoutMs: 10_000,
  idleTimeoutMs: 60_000,
});

/** `ws_allowed_origins` as a list: comma-separated, blanks dropped, trailing slashes trimmed. */
export function parseAllowedOrigins(text: string): string[] {
  return text
    .split(',')
    .map((s) => s.trim().replace(/\/+$/, ''))
    .filter((s) => s !== '');
}

/** Why `ws_allowed_origins` is not a list of origins (`scheme://host[:port]`) or `*`; null when it is. */
export function checkAllowedOrigins(text: string): string | null {
  for (const o of parseAllowedOrigins(text)) {
    if (o === '*') continue;
    let u: URL | null = null;
    try {
      u = new URL(o);
    } catch {
      // reported below
    }
    if (u === null || u.origin === 'null' || u.origin !== o.toLowerCase()) return `'${o}' is not an origin (scheme://host[:port]) or *`;
  }
  return null;
}
