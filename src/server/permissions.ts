import { ProtocolError, ReplyCode } from '../../protocol/index.js';
import type { Logger } from '../log/logger.js';
import type { SettingsStore, UserDirectory } from './users.js';

/** RabbitMQ's three permissions, each a regular expression over resource names. */
export interface PermissionSet {
  configure: string;
  write: string;
  read: string;
}

export type Operation = keyof PermissionSet;
export type Resource = 'queue' | 'exchange';

/** Full access: what config-file users and the guest have on `/`, as before permissions existed. */
export const FULL_ACCESS: Readonly<PermissionSet> = Object.freeze({ configure: '.*', write: '.*', read: '.*' });

interface Compiled {
  set: PermissionSet;
  re: Record<Operation, RegExp>;
}

/** RabbitMQ's rule: '' is a synonym for '^$' (nothing but the empty name). */
function compile(set: PermissionSet, where: string): Compiled | string {
  const re = {} as Record<Operation, RegExp>;
  for (const op of ['configure', 'write', 'read'] as const) {
    const text = set[op];
    if (typeof text !== 'string') return `${where}.${op}: must be a string (a regular expression)`;
    try {
      re[op] = new RegExp(text === '' ? '^$' : text, 'u');
    } catch (err) {
      return `${where}.${op}: not a valid regular expression: ${(err as Error).message}`;
    }
  }
  return { set: { configure: set.configure, write: set.write, read: set.read }, re };
}

/**
 * What one user may do in one vhost, checked by the front ends before each broker operation with
 * RabbitMQ's meaning: declaring and deleting need configure on the object, publishing needs write
 * on the exchange, consuming, getting and purging need read on the queue, binding needs write on
 * the destination and read on the source. The default exchange is `amq.default` here.
 */
export class AccessGuard {
  /** Publishing checks write on its exchange per message: answered from here after the first. */
  private readonly writable = new Map<string, boolean>();

  constructor(
    readonly user: string,
    readonly vhost: string,
    private readonly compiled: Compiled | null,
  ) {}

  allows(op: Operation, name: string): boolean {
    if (op === 'write') {
      const known = this.writable.get(name);
      if (known !== undefined) return known;
    }
    const ok = this.compiled !== null && this.compiled.re[op].test(name === '' ? 'amq.default' : name);
    if (op === 'write' && this.writable.size < 1024) this.writable.set(name, ok);
    return ok;
  }

  /** Throws ACCESS_REFUSED (a channel error) in RabbitMQ's words. */
  check(op: Operation, resource: Resource, name: string): void {
    if (this.allows(op, name)) return;
    const shown = name === '' && resource === 'exchange' ? 'amq.default' : name;
    throw new ProtocolError(ReplyCode.ACCESS_REFUSED, `${op} access to ${resource} '${shown}' in vhost '${this.vhost}' refused for user '${this.user}'`);
  }
}

/**
 * Permissions per user per vhost, kept in the store's settings (kind `permission`, key
 * `vhost` NUL `user`). Users of the config file and the guest have full access to `/` unless
 * given something else; anyone else has none until granted.
 */
export class Permissions {
  private readonly byKey = new Map<string, Compiled>();
  private readonly listeners: (() => void)[] = [];

  constructor(
    private readonly users: UserDirectory,
    private readonly store: SettingsStore | null,
    private readonly log: Logger,
  ) {}

  /** Takes the permissions the store restored (before any connection is served). */
  loadStored(): void {
    for (const s of this.store?.settings ?? []) {
      if (s.kind !== 'permission') continue;
      const c = compile(JSON.parse(s.value) as PermissionSet, s.key);
      if (typeof c === 'string') this.log.error({ key: s.key, why: c }, 'stored permission unusable; ignored');
      else this.byKey.set(s.key, c);
    }
  }

  private static key(vhost: string, user: string): string {
    return `${vhost}\u0000${user}`;
  }

  /** The guard of `user` in `vhost`, read once per connection (changes apply to new connections and HTTP requests). */
  guard(user: string, vhost: string): AccessGuard {
    const own = this.byKey.get(Permissions.key(vhost, user));
    if (own !== undefined) return new AccessGuard(user, vhost, own);
    const source = this.users.get(user)?.source;
    const full = vhost === '/' && (source === 'config' || source === 'builtin');
    return new AccessGuard(user, vhost, full ? (compile(FULL_ACCESS, '') as Compiled) : null);
  }

  /** Checks a permission set; the problem, or null. */
  static problem(set: PermissionSet, where: string): string | null {
    const c = compile(set, where);
    return typeof c === 'string' ? c : null;
  }

  list(): { user: string; vhost: string; configure: string; write: string; read: string }[] {
    const out = [...this.byKey].map(([k, c]) => {
      const [vhost, user] = k.split('\u0000') as [string, string];
      return { user, vhost, ...c.set };
    });
    for (const u of this.users.list()) {
      if ((u.source === 'config' || u.source === 'builtin') && !this.byKey.has(Permissions.key('/', u.name))) out.push({ user: u.name, vhost: '/', ...FULL_ACCESS });
    }
    return out.sort((a, b) => (a.vhost + a.user < b.vhost + b.user ? -1 : 1));
  }

  /** Grants (replacing) a user's permissions in a vhost; resolves once durable. */
  async set(user: string, vhost: string, set: PermissionSet): Promise<'created' | 'updated'> {
    if (vhost !== '/') throw new ProtocolError(ReplyCode.NOT_FOUND, `no vhost '${vhost}'`);
    if (this.users.get(user) === undefined) throw new ProtocolError(ReplyCode.NOT_FOUND, `no user '${user}'`);
    const c = compile(set, 'permission');
    if (typeof c === 'string') throw new ProtocolError(ReplyCode.PRECONDITION_FAILED, c);
    const key = Permissions.key(vhost, user);
    const existed = this.byKey.has(key);
    this.byKey.set(key, c);
    await this.store?.changeSetting('permission', key, JSON.stringify(c.set));
    this.log.info({ user, vhost, ...c.set }, 'permissions set');
    for (const l of this.listeners) l();
    return existed ? 'updated' : 'created';
  }

  /** Removes a user's permissions in a vhost (config users fall back to full access on `/`). */
  async clear(user: string, vhost: string): Promise<void> {
    const key = Permissions.key(vhost, user);
    if (!this.byKey.delete(key)) throw new ProtocolError(ReplyCode.NOT_FOUND, `no permissions for user '${user}' in vhost '${vhost}'`);
    await this.store?.changeSetting('permission', key, null);
    for (const l of this.listeners) l();
  }
}
