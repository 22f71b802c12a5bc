/** The outcome of checking a browser's Origin against `ws_allowed_origins`. */
export type OriginCheck = { ok: true } | { ok: false; reason: string };

/**
 * A browser names the page that opens a WebSocket in `Origin`; a page from elsewhere must not
 * use a visitor's browser (and its network position) to reach the broker. Allowed: no Origin
 * (not a browser: the same client could send anything), the endpoint's own origin (same host
 * and port as the request's `Host`), an origin in `allowed`, or anything when `allowed` holds `*`.
 */
export function checkOrigin(origin: string | undefined, host: string | undefined, allowed: readonly string[]): OriginCheck {
  if (origin === undefined) return { ok: true };
  if (allowed.includes('*')) return { ok: true };
  const o = origin.trim().replace(/\/+$/, '');
  if (allowed.some((a) => a.toLowerCase() === o.toLowerCase())) return { ok: true };
  if (host !== undefined && o !== 'null') {
    try {
      if (new URL(o).host.toLowerCase() === host.toLowerCase()) return { ok: true };
    } catch {
      // not a URL: refused below
    }
  }
  return { ok: false, reason: `Origin ${o} is not allowed (ws_allowed_origins)` };
}
