import { ProtocolError, ReplyCode } from '../../protocol/index.js';
import type { Broker } from '../broker/broker.js';
import type { VirtualHosts } from '../broker/vhosts.js';
import type { Limits } from './limits.js';
import type { AccessGuard, Permissions } from './permissions.js';
import type { ConnectionRegistry } from './registry.js';

/** What a front end needs to let a connection into a vhost. */
export interface VhostGate {
  readonly vhosts: VirtualHosts;
  readonly registry: ConnectionRegistry;
  readonly permissions?: Permissions;
  readonly limits?: Limits;
}

/**
 * Lets a logged-in `user` into `vhost`, as RabbitMQ's connection.open does: the vhost must exist,
 * the user must have permissions in it, and neither the vhost's nor the user's connection limit
 * may be reached. Refusals are NOT_ALLOWED (a connection error) in RabbitMQ's words. Every front
 * end opens its connections through this, so the rules are the same on every wire.
 */
export function enterVhost(gate: VhostGate, user: string, vhost: string): { broker: Broker; access: AccessGuard | null } {
  const broker = gate.vhosts.get(vhost);
  if (broker === undefined) throw new ProtocolError(ReplyCode.NOT_ALLOWED, `vhost ${vhost} not found`);
  const access = gate.permissions?.guard(user, vhost) ?? null;
  if (access !== null && !access.hasAccess) throw new ProtocolError(ReplyCode.NOT_ALLOWED, `access to vhost '${vhost}' refused for user '${user}'`);
  gate.limits?.checkConnection(user, vhost, () => {
    const open = { user: 0, vhost: 0 };
    for (const c of gate.registry.list()) {
      if (c.user === user) open.user++;
      if (c.session?.broker === broker) open.vhost++;
    }
    return open;
  });
  return { broker, access };
}

/** Refuses one more channel when the user's `max-channels` (over all their connections) is reached. */
export function checkChannelLimit(gate: VhostGate, user: string): void {
  gate.limits?.checkChannel(user, () => {
    let open = 0;
    for (const c of gate.registry.list()) if (c.user === user) open += c.channelCount;
    return open;
  });
}
