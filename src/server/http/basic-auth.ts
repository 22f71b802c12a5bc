import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Logger } from '../../log/logger.js';
import type { Authenticator, Principal } from '../auth.js';
import { HttpError, forbidden } from './errors.js';

/**
 * Who may call a route: `none` (the dashboard's files, `/health`), any logged-in `user`,
 * `monitor` (the `administrator` or `monitoring` tag), or `admin` (the `administrator` tag).
 * Without a setting a GET is `monitor` and anything else `admin`. Plain users get what the wire
 * protocol gives them: declaring, binding, publishing, getting and purging, the objects they
 * can name; listings and connections are the admin methods' and need a monitor or an admin.
 */
export type Access = 'none' | 'user' | 'monitor' | 'policymaker' | 'admin';

declare module 'fastify' {
  interface FastifyContextConfig {
    access?: Access;
  }
  interface FastifyRequest {
    /** The authenticated user; null on routes with access `none`. */
    principal: Principal | null;
  }
}

/** The user's RabbitMQ tags; a principal without tags is `administrator` iff admin. */
export function tagsOf(p: { admin: boolean; tags?: readonly string[] }): string[] {
  return p.tags !== undefined ? [...p.tags] : p.admin ? ['administrator'] : [];
}

/** scrypt costs tens of ms a check; a dashboard polling every few seconds would pay it each time. */
const CACHE_TTL_MS = 60_000;
const CACHE_MAX = 1000;

const REFUSED = 'login refused: wrong username or password';

/**
 * HTTP basic auth against the daemon's users, as on the wire: the built-in guest only from
 * loopback, and one refusal for every wrong credential (401, never saying which part was
 * wrong). A successful check is remembered for a minute under a hash of the credentials and
 * the peer address, so the password itself is never kept.
 */
export function registerBasicAuth(app: FastifyInstance, auth: Authenticator, log: Logger, onUsersChange?: (listener: () => void) => void): void {
  const cache = new Map<string, { principal: Principal; until: number }>();
  // A changed password, tag or deleted user takes effect on the next request, not a minute later.
  onUsersChange?.(() => cache.clear());
  app.decorateRequest('principal', null);
  app.addHook('onRequest', async (req) => {
    const access = req.is404 ? 'none' : (req.routeOptions.config.access ?? (req.method === 'GET' || req.method === 'HEAD' ? 'monitor' : 'admin'));
    if (access === 'none') return;
    const creds = parseBasic(req.headers.authorization);
    if (creds === null) throw unauthorized(req, 'login required: send HTTP basic credentials');
    const address = req.socket.remoteAddress ?? '';
    const key = createHash('sha256').update(`${creds.user}\0${creds.password}\0${address}`).digest('base64');
    const now = Date.now();
    const hit = cache.get(key);
    let principal = hit !== undefined && hit.until > now ? hit.principal : null;
    if (principal === null) {
      principal = await auth.authenticate(creds.user, creds.password, address);
      if (principal === null) {
        log.warn({ user: creds.user, remote: address }, 'HTTP authentication failed');
        throw unauthorized(req, REFUSED);
      }
      if (cache.size >= CACHE_MAX) cache.clear();
      cache.set(key, { principal, until: now + CACHE_TTL_MS });
    }
    req.principal = principal;
    const route = `${req.method} ${req.routeOptions.url ?? req.url}`;
    if (access === 'admin' && !principal.admin) {
      throw forbidden(`user '${principal.user}' is not an administrator; ${route} needs the administrator tag`);
    }
    if (access === 'policymaker' && !principal.admin && !tagsOf(principal).includes('policymaker')) {
      throw forbidden(`user '${principal.user}' is not an administrator or policymaker; ${route} needs the administrator or policymaker tag`);
    }
    if (access === 'monitor' && !principal.admin && !tagsOf(principal).includes('monitoring')) {
      throw forbidden(`user '${principal.user}' is not an administrator or monitoring user; ${route} needs the administrator or monitoring tag`);
    }
  });
}

/**
 * The challenge makes a browser show its own login box, which a page that asks for the
 * credentials itself (the dashboard, with `X-Requested-With`) does not want.
 */
function unauthorized(req: FastifyRequest, reason: string): HttpError {
  const headers: Record<string, string> = req.headers['x-requested-with'] === undefined ? { 'www-authenticate': 'Basic realm="Skiff", charset="UTF-8"' } : {};
  return new HttpError(401, 'not_authorized', reason, headers);
}

function parseBasic(header: string | undefined): { user: string; password: string } | null {
  if (header === undefined) return null;
  const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
  if (m === null) return null;
  const text = Buffer.from(m[1] as string, 'base64').toString('utf8');
  const colon = text.indexOf(':');
  if (colon === -1) return null;
  return { user: text.slice(0, colon), password: text.slice(colon + 1) };
}
