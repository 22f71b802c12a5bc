import type { Broker } from '../../broker/broker.js';
import type { Session } from '../../broker/session.js';
import type { Logger } from '../../log/logger.js';
import type { AccessGuard } from '../permissions.js';
import { notFound } from './errors.js';
import type { ClientConnectionView, HttpHost, ListenerView } from './host.js';
import type { HttpOptions } from './options.js';
import type { StatsSampler } from './sampler.js';

/** What every route module gets: the daemon (through {@link HttpHost}), the sampler, settings. */
export interface ApiContext {
  readonly host: HttpHost;
  readonly sampler: StatsSampler;
  readonly options: Readonly<HttpOptions>;
  readonly log: Logger;
  /** Every listener of the daemon, this HTTP one included. */
  listeners(): readonly ListenerView[];
}

/**
 * The broker of a vhost named in a path (`%2F` arrives decoded as `/`). An unknown vhost is 404,
 * as RabbitMQ answers; today only `/` exists.
 */
export function vhostBroker(ctx: ApiContext, vhost: string): Broker {
  const b = ctx.host.vhost(vhost);
  if (b === undefined) throw notFound(`no vhost '${vhost}'`);
  return b;
}

/** What the request's user may do in `vhost` (RabbitMQ's permissions; refusals are 403). */
export function accessOf(ctx: ApiContext, principal: { user: string } | null, vhost: string): AccessGuard {
  return ctx.host.permissions.guard(principal?.user ?? '', vhost);
}

/** The vhosts a list endpoint covers: the one in its path, or all of them. */
export function vhostsOf(ctx: ApiContext, vhost: string | undefined): { name: string; broker: Broker }[] {
  if (vhost !== undefined) return [{ name: vhost, broker: vhostBroker(ctx, vhost) }];
  const out: { name: string; broker: Broker }[] = [];
  for (const name of ctx.host.vhostNames()) {
    const broker = ctx.host.vhost(name);
    if (broker !== undefined) out.push({ name, broker });
  }
  return out;
}

/** The connection of a broker session (for names and addresses), by id. */
export function connectionOf(ctx: ApiContext, session: Session): ClientConnectionView | undefined {
  return ctx.host.connections.get(session.id);
}

let internalSeq = 0;

/**
 * Runs `f` on a channel of a short-lived session of the HTTP API's own (publish, get, the
 * aliveness test), so what it does goes through the same broker API and counters as a client's;
 * the session is closed when `f` settles, requeueing anything left unacked.
 */
export async function withChannel<T>(broker: Broker, user: string, f: (session: Session) => Promise<T> | T): Promise<T> {
  const session = broker.openSession({ id: `http-${++internalSeq}`, name: 'HTTP API', user, peer: 'http', connectedAt: Date.now() });
  try {
    return await f(session);
  } finally {
    session.close();
  }
}
