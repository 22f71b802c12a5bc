import { ProtocolError, ReplyCode } from '../../protocol/index.js';
import type { Logger } from '../log/logger.js';
import type { SettingsStore } from './users.js';

/** RabbitMQ's user limits (`rabbitmqctl set_user_limits`). */
export const USER_LIMITS = ['max-connections', 'max-channels'] as const;
/** RabbitMQ's vhost limits (`rabbitmqctl set_vhost_limits`). */
export const VHOST_LIMITS = ['max-connections', 'max-queues'] as const;

type Scope = 'user' | 'vhost';
export type LimitMap = Partial<Record<string, number>>;

const KIND: Record<Scope, string> = { user: 'user-limits', vhost: 'vhost-limits' };
const NAMES: Record<Scope, readonly string[]> = { user: USER_LIMITS, vhost: VHOST_LIMITS };

/**
 * Limits per user (connections, channels) and per vhost (connections, queues), kept in the store's
 * settings; a negative value or none means no limit, as in RabbitMQ. Front ends ask before they
 * open a connection or channel, or create a queue, and refuse with RabbitMQ's words.
 */
export class Limits {
  private readonly maps: Record<Scope, Map<string, LimitMap>> = { user: new Map(), vhost: new Map() };

  constructor(
    private readonly store: SettingsStore | null,
    private readonly log: Logger,
  ) {}

  /** Takes the limits the store restored (before any connection is served). */
  loadStored(): void {
    for (const s of this.store?.settings ?? []) {
      for (const scope of ['user', 'vhost'] as const) if (s.kind === KIND[scope]) this.maps[scope].set(s.key, JSON.parse(s.value) as LimitMap);
    }
  }

  /** A problem with one limit (`max-queues`, 10), or null. */
  static problem(scope: Scope, name: string, value: unknown): string | null {
    if (!NAMES[scope].includes(name)) return `unknown ${scope} limit '${name}' (expected ${NAMES[scope].join(', ')})`;
    if (typeof value !== 'number' || !Number.isInteger(value)) return `${name} must be an integer (negative: no limit), got ${JSON.stringify(value)}`;
    return null;
  }

  get(scope: Scope, key: string): LimitMap {
    return { ...this.maps[scope].get(key) };
  }

  list(scope: Scope): { key: string; value: LimitMap }[] {
    return [...this.maps[scope]].map(([key, value]) => ({ key, value: { ...value } }));
  }

  /** Sets (or with null clears) one limit; resolves once durable. */
  async set(scope: Scope, key: string, name: string, value: number | null): Promise<void> {
    if (value !== null) {
      const problem = Limits.problem(scope, name, value);
      if (problem !== null) throw new ProtocolError(ReplyCode.PRECONDITION_FAILED, problem);
    }
    const next = { ...this.maps[scope].get(key) };
    if (value === null) delete next[name];
    else next[name] = value;
    const empty = Object.keys(next).length === 0;
    if (empty) this.maps[scope].delete(key);
    else this.maps[scope].set(key, next);
    await this.store?.changeSetting(KIND[scope], key, empty ? null : JSON.stringify(next));
    this.log.info({ scope, key, name, value }, 'limit set');
  }

  /** The vhost is deleted: its limits go with it (durably). */
  async clearVhost(vhost: string): Promise<void> {
    if (!this.maps.vhost.delete(vhost)) return;
    await this.store?.changeSetting(KIND.vhost, vhost, null);
  }

  private max(scope: Scope, key: string, name: string): number | null {
    const v = this.maps[scope].get(key)?.[name];
    return v === undefined || v < 0 ? null : v;
  }

  /**
   * Refuses a new connection of `user` to `vhost` (NOT_ALLOWED, a connection error) when either's
   * max-connections is reached. `count` gives the connections already open; it is called only
   * when a limit is set, since counting walks every connection.
   */
  checkConnection(user: string, vhost: string, count: () => { user: number; vhost: number }): void {
    const v = this.max('vhost', vhost, 'max-connections');
    const u = this.max('user', user, 'max-connections');
    if (v === null && u === null) return;
    const open = count();
    if (v !== null && open.vhost >= v) throw new ProtocolError(ReplyCode.NOT_ALLOWED, `access to vhost '${vhost}' refused for user '${user}': connection limit (${v}) is reached`);
    if (u !== null && open.user >= u) throw new ProtocolError(ReplyCode.NOT_ALLOWED, `connection refused for user '${user}': user connection limit (${u}) is reached`);
  }

  /** Refuses one more channel of `user`; `open` counts their channels on all connections (called only under a limit). */
  checkChannel(user: string, open: () => number): void {
    const u = this.max('user', user, 'max-channels');
    if (u !== null && open() >= u) throw new ProtocolError(ReplyCode.NOT_ALLOWED, `number of channels opened for user '${user}' has reached the maximum allowed limit of (${u})`);
  }

  /** Refuses a new queue in `vhost`, which has `queues` (PRECONDITION_FAILED, a channel error). */
  checkQueue(vhost: string, name: string, queues: number): void {
    const v = this.max('vhost', vhost, 'max-queues');
    if (v !== null && queues >= v) throw new ProtocolError(ReplyCode.PRECONDITION_FAILED, `cannot declare queue '${name}': queue limit in vhost '${vhost}' (${v}) is reached`);
  }
}
