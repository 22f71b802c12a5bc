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

/** RabbitMQ's topic permission: on one topic exchange, regular expressions over routing keys. */
export interface TopicPermissionSet {
  exchange: string;
  write: string;
  read: string;
}

interface CompiledTopic {
  set: TopicPermissionSet;
  write: RegExp;
  read: RegExp;
}

/**
 * RabbitMQ expands `{username}` and `{vhost}` in topic permission patterns when it checks them,
 * so one pattern can give every user a branch of the topic space.
 */
function compileTopic(set: TopicPermissionSet, where: string, user: string, vhost: string): CompiledTopic | string {
  if (typeof set.exchange !== 'string') return `${where}.exchange: must be a string`;
  const out: Partial<Record<'write' | 'read', RegExp>> = {};
  for (const op of ['write', 'read'] as const) {
    const text = set[op];
    if (typeof text !== 'string') return `${where}.${op}: must be a string (a regular expression)`;
    const expanded = text.replaceAll('{username}', escapeRegExp(user)).replaceAll('{vhost}', escapeRegExp(vhost));
    try {
      out[op] = new RegExp(expanded === '' ? '^$' : expanded, 'u');
    } catch (err) {
      return `${where}.${op}: not a valid regular expression: ${(err as Error).message}`;
    }
  }
  return { set: { exchange: set.exchange, write: set.write, read: set.read }, write: out.write as RegExp, read: out.read as RegExp };
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

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
    /** Topic permissions by exchange; empty (the usual case) costs publishing nothing. */
    private readonly topics: ReadonlyMap<string, CompiledTopic> = new Map(),
  ) {}

  /** True when some topic exchange limits this user's routing keys (publishers look the exchange up only then). */
  get hasTopicPermissions(): boolean {
    return this.topics.size !== 0;
  }

  /**
   * RabbitMQ's topic authorisation, for topic exchanges: publishing needs `write` to match the
   * routing key, binding a queue needs `read` to match the binding key. An exchange without a
   * topic permission of this user allows every key, as RabbitMQ's.
   */
  checkTopic(op: 'write' | 'read', exchange: string, routingKey: string, exchangeType: string | undefined): void {
    if (exchangeType !== 'topic') return;
    const t = this.topics.get(exchange);
    if (t === undefined || t[op].test(routingKey)) return;
    throw new ProtocolError(
      ReplyCode.ACCESS_REFUSED,
      `${op} access to topic '${routingKey}' in exchange '${exchange}' in vhost '${this.vhost}' refused for user '${this.user}'`,
    );
  }

  /** Whether the user may use the vhost at all (RabbitMQ: has any permission entry in it). */
  get hasAccess(): boolean {
    return this.compiled !== null;
  }

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
  /** Topic permissions by `vhost` NUL `user`, then exchange. */
  private readonly topicByKey = new Map<string, Map<string, TopicPermissionSet>>();
  private readonly listeners: (() => void)[] = [];

  constructor(
    private readonly users: UserDirectory,
    private readonly store: SettingsStore | null,
    private readonly log: Logger,
    /** Which vhosts exist (permissions are set only on those); absent: only `/`. */
    private readonly vhosts: { has(name: string): boolean } = { has: (name) => name === '/' },
  ) {}

  /** Takes the permissions the store restored (before any connection is served). */
  loadStored(): void {
    for (const s of this.store?.settings ?? []) {
      if (s.kind === 'topic-permission') {
        const [vhost, user, exchange] = s.key.split('\u0000') as [string, string, string];
        const set = JSON.parse(s.value) as TopicPermissionSet;
        this.topicsOf(vhost, user, true).set(exchange, { ...set, exchange });
        continue;
      }
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
    const topics = new Map<string, CompiledTopic>();
    for (const [exchange, set] of this.topicsOf(vhost, user, false) ?? []) {
      const c = compileTopic(set, 'topic permission', user, vhost);
      if (typeof c !== 'string') topics.set(exchange, c);
    }
    const own = this.byKey.get(Permissions.key(vhost, user));
    if (own !== undefined) return new AccessGuard(user, vhost, own, topics);
    const source = this.users.get(user)?.source;
    const full = vhost === '/' && (source === 'config' || source === 'builtin');
    return new AccessGuard(user, vhost, full ? (compile(FULL_ACCESS, '') as Compiled) : null, topics);
  }

  private topicsOf(vhost: string, user: string, create: true): Map<string, TopicPermissionSet>;
  private topicsOf(vhost: string, user: string, create: false): Map<string, TopicPermissionSet> | undefined;
  private topicsOf(vhost: string, user: string, create: boolean): Map<string, TopicPermissionSet> | undefined {
    const key = Permissions.key(vhost, user);
    let m = this.topicByKey.get(key);
    if (m === undefined && create) this.topicByKey.set(key, (m = new Map()));
    return m;
  }

  /** Checks a topic permission; the problem, or null. */
  static topicProblem(set: TopicPermissionSet, where: string): string | null {
    const c = compileTopic(set, where, 'user', 'vhost');
    return typeof c === 'string' ? c : null;
  }

  listTopic(): { user: string; vhost: string; exchange: string; write: string; read: string }[] {
    const out: { user: string; vhost: string; exchange: string; write: string; read: string }[] = [];
    for (const [k, m] of this.topicByKey) {
      const [vhost, user] = k.split('\u0000') as [string, string];
      for (const t of m.values()) out.push({ user, vhost, exchange: t.exchange, write: t.write, read: t.read });
    }
    return out.sort((a, b) => (a.vhost + a.user + a.exchange < b.vhost + b.user + b.exchange ? -1 : 1));
  }

  /** Sets (replacing) a user's topic permission on one exchange of a vhost; resolves once durable. */
  async setTopic(user: string, vhost: string, set: TopicPermissionSet): Promise<'created' | 'updated'> {
    if (!this.vhosts.has(vhost)) throw new ProtocolError(ReplyCode.NOT_FOUND, `no vhost '${vhost}'`);
    if (this.users.get(user) === undefined) throw new ProtocolError(ReplyCode.NOT_FOUND, `no user '${user}'`);
    const problem = Permissions.topicProblem(set, 'topic permission');
    if (problem !== null) throw new ProtocolError(ReplyCode.PRECONDITION_FAILED, problem);
    const m = this.topicsOf(vhost, user, true);
    const existed = m.has(set.exchange);
    const clean = { exchange: set.exchange, write: set.write, read: set.read };
    m.set(set.exchange, clean);
    await this.store?.changeSetting('topic-permission', `${Permissions.key(vhost, user)}\u0000${set.exchange}`, JSON.stringify(clean));
    this.log.info({ user, vhost, ...clean }, 'topic permission set');
    return existed ? 'updated' : 'created';
  }

  /** Removes a user's topic permissions in a vhost: on one exchange, or all of them. */
  async clearTopic(user: string, vhost: string, exchange?: string): Promise<void> {
    const m = this.topicsOf(vhost, user, false);
    const gone = [...(m?.keys() ?? [])].filter((x) => exchange === undefined || x === exchange);
    if (gone.length === 0) throw new ProtocolError(ReplyCode.NOT_FOUND, `no topic permissions for user '${user}' in vhost '${vhost}'`);
    for (const x of gone) m?.delete(x);
    if (m?.size === 0) this.topicByKey.delete(Permissions.key(vhost, user));
    await Promise.all(gone.map((x) => this.store?.changeSetting('topic-permission', `${Permissions.key(vhost, user)}\u0000${x}`, null)));
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
    if (!this.vhosts.has(vhost)) throw new ProtocolError(ReplyCode.NOT_FOUND, `no vhost '${vhost}'`);
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

  /** The vhost is deleted: its permissions go with it (durably). */
  async clearVhost(vhost: string): Promise<void> {
    const gone = [...this.byKey.keys()].filter((k) => k.startsWith(`${vhost}\u0000`));
    for (const k of gone) this.byKey.delete(k);
    const topics: string[] = [];
    for (const [k, m] of [...this.topicByKey]) {
      if (!k.startsWith(`${vhost}\u0000`)) continue;
      for (const x of m.keys()) topics.push(`${k}\u0000${x}`);
      this.topicByKey.delete(k);
    }
    await Promise.all([...gone.map((k) => this.store?.changeSetting('permission', k, null)), ...topics.map((k) => this.store?.changeSetting('topic-permission', k, null))]);
    if (gone.length !== 0) for (const l of this.listeners) l();
  }

  /** Removes a user's permissions in a vhost (config users fall back to full access on `/`). */
  async clear(user: string, vhost: string): Promise<void> {
    const key = Permissions.key(vhost, user);
    if (!this.byKey.delete(key)) throw new ProtocolError(ReplyCode.NOT_FOUND, `no permissions for user '${user}' in vhost '${vhost}'`);
    await this.store?.changeSetting('permission', key, null);
    for (const l of this.listeners) l();
  }
}
