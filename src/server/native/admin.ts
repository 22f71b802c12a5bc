import {
  Method,
  ProtocolError,
  ReplyCode,
  argsOf,
  isAdminListKind,
  packValue,
  type AdminListKind,
  type BindingRow,
  type ConnectionRow,
  type ConsumerRow,
  type ExchangeRow,
  type ParsedMethod,
  type QueueRow,
  type ServerStatus,
  type StoreStatus,
  type UserRow,
} from '../../../protocol/index.js';
import type { Broker } from '../../broker/broker.js';
import { DelayedExchange } from '../../broker/exchange/delayed.js';
import type { ConnectionRegistry } from '../registry.js';
import type { Connection } from './connection.js';
import type { ConnectionMethodHandler } from './context.js';
import { putUser } from '../user-change.js';
import type { UserDirectory } from '../users.js';
import type { Permissions } from '../permissions.js';
import { mayManagePolicies, type Policies } from '../policies.js';
import type { PolicyKind } from '../../broker/policy.js';

/** What the admin methods need of the front end ({@link NativeFrontEnd} has all of it). */
export interface AdminHost {
  readonly broker: Broker;
  readonly version: string;
  readonly startedAt: number;
  /** Every front end's connections: listings and closes reach AMQP and WebSocket clients too. */
  readonly registry: ConnectionRegistry;
  readonly connectionHandlers: Map<number, ConnectionMethodHandler>;
}

/** An admin method's handler; a promise for those that wait on the store (replies stay in order). */
type AdminHandler = (conn: Connection, method: ParsedMethod) => void | Promise<void>;

/** What a caller must be: `read` methods are also open to the `monitoring` tag. */
type Need = 'read' | 'admin';

export interface AdminOptions {
  /** `memory_high_watermark`, reported by status. */
  memoryHighWatermark?: number;
  /** Checkpoint lag of the durable store for status; absent or null without a store. */
  storeStatus?: () => StoreStatus | null;
  /** How often publish/deliver counters are sampled for rates. Default 1000 ms. */
  rateSampleMs?: number;
  /** Run-time users (`admin.put user`, `admin.list users`); absent = not offered. */
  users?: UserDirectory;
  /** Permissions (`admin.put permission`, `admin.list permissions`); absent = not offered. */
  permissions?: Permissions;
  /** Policies (`admin.put policy`, `admin.list policies`, and operator ones); absent = not offered. */
  policies?: Policies;
}

/** Stops the rate sampler; call it when the server stops. */
export interface AdminHandle {
  stop(): void;
}

/** Rates are averaged over this many samples (5 s at the default interval). */
const RATE_WINDOW = 5;
/** Room left in a list-ok frame for the frame header, method id, array headers and `next`. */
const LIST_FRAME_OVERHEAD = 64;

interface Sample {
  t: number;
  published: number;
  delivered: number;
}

/**
 * Keeps the last few counter samples so `status` can report rates without per-message work:
 * the broker already counts publishes and deliveries.
 */
class RateMeter {
  private readonly samples: Sample[] = [];
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly broker: Broker,
    intervalMs: number,
  ) {
    this.sample();
    this.timer = setInterval(() => this.sample(), intervalMs);
    this.timer.unref();
  }

  private sample(): void {
    this.samples.push({ t: Date.now(), published: this.broker.publishedTotal, delivered: this.broker.deliveredTotal });
    if (this.samples.length > RATE_WINDOW + 1) this.samples.shift();
  }

  rates(): { publishRate: number; deliverRate: number } {
    const first = this.samples[0] as Sample;
    const now = { t: Date.now(), published: this.broker.publishedTotal, delivered: this.broker.deliveredTotal };
    const seconds = (now.t - first.t) / 1000;
    if (seconds <= 0) return { publishRate: 0, deliverRate: 0 };
    const rate = (d: number): number => Math.round((d / seconds) * 10) / 10;
    return { publishRate: rate(now.published - first.published), deliverRate: rate(now.delivered - first.delivered) };
  }

  stop(): void {
    clearInterval(this.timer);
  }
}

/**
 * Registers the admin methods (SPEC §3.7) on a server's channel 0. Each request gets exactly
 * one reply, in order: its `-ok`, or `admin.error` for a refusal (not an admin, unknown
 * connection …), which leaves the connection open.
 */
export function registerAdminMethods(host: AdminHost, options: AdminOptions = {}): AdminHandle {
  const broker = host.broker;
  const meter = new RateMeter(broker, options.rateSampleMs ?? 1000);
  const users = options.users;
  const permissions = options.permissions;
  const policies = options.policies;
  const handlers: [number, Need, AdminHandler][] = [
    [
      Method.AdminStatus,
      'read',
      (conn) => {
        conn.writer.method(0, Method.AdminStatusOk, [status(host, meter, options) as unknown as Record<string, unknown>]);
      },
    ],
    [
      Method.AdminList,
      'read',
      (conn, p) => {
        const { kind, offset } = argsOf(p, Method.AdminList);
        const policyKind = kind === 'policies' ? 'policy' : kind === 'operator-policies' ? 'operator-policy' : null;
        if (!isAdminListKind(kind) || (kind === 'users' && users === undefined) || (kind === 'permissions' && permissions === undefined) || (policyKind !== null && policies === undefined)) {
          throw new ProtocolError(
            ReplyCode.PRECONDITION_FAILED,
            `unknown listing '${kind}' (expected exchanges, queues, bindings, connections, consumers, users, permissions, policies or operator-policies)`,
          );
        }
        const all = kind === 'permissions' ? (permissions?.list() ?? []) : policyKind !== null ? (policies?.list(policyKind) ?? []) : listRows(host, kind, users);
        const { rows, next } = page(all, offset, conn.frameMax - LIST_FRAME_OVERHEAD);
        conn.writer.method(0, Method.AdminListOk, [rows, next]);
      },
    ],
    [
      Method.AdminCloseConnection,
      'admin',
      (conn, p) => {
        const { connection: id, reason } = argsOf(p, Method.AdminCloseConnection);
        const target = host.registry.get(id);
        if (target === undefined) throw new ProtocolError(ReplyCode.NOT_FOUND, `no connection '${id}'`);
        conn.writer.method(0, Method.AdminCloseConnectionOk, []);
        conn.log.info({ target: target.id, user: target.user, protocol: target.protocol }, 'operator closed a connection');
        target.close(ReplyCode.CONNECTION_FORCED, `CONNECTION_FORCED - ${reason}`);
      },
    ],
    [
      Method.AdminPut,
      'admin',
      async (conn, p) => {
        const [kind, name, value] = p.args as [string, string, Record<string, unknown>];
        if (isPolicyKind(kind) && policies !== undefined) {
          conn.writer.method(0, Method.AdminPutOk, [(await putPolicy(policies, kind, name, value)) === 'created']);
          return;
        }
        const created = kind === 'permission' && permissions !== undefined ? (await putPermission(permissions, name, value)) === 'created' : await putSetting(users, kind, name, value);
        conn.writer.method(0, Method.AdminPutOk, [created]);
      },
    ],
    [
      Method.AdminDelete,
      'admin',
      async (conn, p) => {
        const [kind, name] = p.args as [string, string];
        if (isPolicyKind(kind) && policies !== undefined) {
          if (!(await policies.clear(kind, name))) throw new ProtocolError(ReplyCode.NOT_FOUND, `no ${kind === 'policy' ? 'policy' : 'operator policy'} '${name}' in vhost '/'`);
        } else if (kind === 'permission' && permissions !== undefined) await permissions.clear(name, '/');
        else if (kind !== 'user' || users === undefined) throw unknownKind(kind);
        else await users.delete(name);
        conn.writer.method(0, Method.AdminDeleteOk, []);
      },
    ],
  ];
  for (const [id, need, handler] of handlers) host.connectionHandlers.set(id, guarded(need, handler));
  return {
    stop: () => {
      meter.stop();
      for (const [id] of handlers) host.connectionHandlers.delete(id);
    },
  };
}

function unknownKind(kind: string): ProtocolError {
  return new ProtocolError(ReplyCode.PRECONDITION_FAILED, `unknown kind '${kind}' (expected user, permission, policy or operator-policy)`);
}

function isPolicyKind(kind: string): kind is PolicyKind {
  return kind === 'policy' || kind === 'operator-policy';
}

/** `admin.put policy <name> {pattern, definition, priority?, apply-to?}` (RabbitMQ's fields). */
function putPolicy(policies: Policies, kind: PolicyKind, name: string, value: Record<string, unknown>): Promise<'created' | 'updated'> {
  const extra = Object.keys(value).find((k) => !['pattern', 'definition', 'priority', 'apply-to'].includes(k));
  if (extra !== undefined) throw new ProtocolError(ReplyCode.PRECONDITION_FAILED, `value.${extra}: unknown key (expected pattern, definition, priority, apply-to)`);
  return policies.set(kind, name, { pattern: value['pattern'], applyTo: value['apply-to'], priority: value['priority'], definition: value['definition'] });
}

/** Policy methods are open to the `policymaker` tag too, as RabbitMQ's are. */
function isPolicyRequest(p: ParsedMethod): boolean {
  const kind = p.args[0];
  if (p.def.id === Method.AdminList) return kind === 'policies' || kind === 'operator-policies';
  return (p.def.id === Method.AdminPut || p.def.id === Method.AdminDelete) && (kind === 'policy' || kind === 'operator-policy');
}

/** `admin.put permission <user> {configure, write, read, vhost?}`. */
function putPermission(permissions: Permissions, user: string, value: Record<string, unknown>): Promise<'created' | 'updated'> {
  const { vhost = '/', configure, write, read, ...rest } = value;
  const extra = Object.keys(rest)[0];
  if (extra !== undefined) throw new ProtocolError(ReplyCode.PRECONDITION_FAILED, `value.${extra}: unknown key (expected configure, write, read, vhost)`);
  for (const [k, v] of [['configure', configure], ['write', write], ['read', read], ['vhost', vhost]] as const) {
    if (typeof v !== 'string') throw new ProtocolError(ReplyCode.PRECONDITION_FAILED, `value.${k}: is required and must be a string`);
  }
  return permissions.set(user, vhost as string, { configure: configure as string, write: write as string, read: read as string });
}

async function putSetting(users: UserDirectory | undefined, kind: string, name: string, value: Record<string, unknown>): Promise<boolean> {
  if (kind !== 'user' || users === undefined) throw unknownKind(kind);
  return (await putUser(users, name, value, 'value')) === 'created';
}

/** The admin replies still to come, per connection: a later request waits for an earlier async one. */
const pending = new WeakMap<Connection, Promise<void>>();

/**
 * Admin (or, for `read` methods, monitoring) users only; refusals become `admin.error` replies,
 * connection-level errors still close. Replies come in request order (§3.7.1) even when one
 * waits for the store.
 */
function guarded(need: Need, handler: AdminHandler): ConnectionMethodHandler {
  const refuse = (conn: Connection, p: ParsedMethod, err: unknown): void => {
    if (!(err instanceof ProtocolError) || err.isConnectionError) throw err;
    conn.writer.method(0, Method.AdminError, [err.replyCode, err.replyText, p.def.id]);
  };
  const run = (conn: Connection, p: ParsedMethod): void | Promise<void> => {
    const tags = conn.principal?.tags ?? [];
    const allowed = conn.principal?.admin === true || (need === 'read' && tags.includes('monitoring')) || (isPolicyRequest(p) && mayManagePolicies(conn.principal));
    if (!allowed) {
      if (isPolicyRequest(p)) throw new ProtocolError(ReplyCode.ACCESS_REFUSED, `user '${conn.user}' is not an administrator or policymaker; ${p.def.name} of policies needs the administrator or policymaker tag`);
      throw new ProtocolError(ReplyCode.ACCESS_REFUSED, `user '${conn.user}' is not an admin; ${p.def.name} needs an admin user`);
    }
    return handler(conn, p);
  };
  const settle = (conn: Connection, p: ParsedMethod, r: Promise<void>): void => {
    const done = r.then(
      () => undefined,
      (err: unknown) => {
        try {
          refuse(conn, p, err);
        } catch (e) {
          conn.log.error({ err: e }, 'admin request failed');
          conn.closeConnection(ReplyCode.INTERNAL_ERROR, 'INTERNAL_ERROR - the server failed handling this connection; see its log', p.def.id);
        }
      },
    );
    pending.set(conn, done);
    void done.then(() => {
      if (pending.get(conn) === done) pending.delete(conn);
    });
  };
  return (conn: Connection, p: ParsedMethod) => {
    const before = pending.get(conn);
    if (before !== undefined) return settle(conn, p, before.then(() => run(conn, p)));
    try {
      const r = run(conn, p);
      if (r instanceof Promise) settle(conn, p, r);
    } catch (err) {
      refuse(conn, p, err);
    }
  };
}

function status(host: AdminHost, meter: RateMeter, options: AdminOptions): ServerStatus {
  const s = host.broker.stats();
  const mem = process.memoryUsage();
  return {
    version: host.version,
    node: process.version,
    pid: process.pid,
    uptimeMs: Date.now() - host.startedAt,
    connections: s.connections,
    channels: s.channels,
    consumers: s.consumers,
    exchanges: s.exchanges,
    queues: s.queues,
    messagesReady: s.messagesReady,
    messagesUnacked: s.messagesUnacked,
    published: s.published,
    delivered: s.delivered,
    unroutable: s.unroutable,
    ...meter.rates(),
    memory: {
      rss: mem.rss,
      heapUsed: mem.heapUsed,
      queuedBytes: s.queuedBytes,
      highWatermark: options.memoryHighWatermark ?? 0,
      blocked: s.blocked,
      alarms: [...host.broker.alarmReasons],
    },
    store: options.storeStatus?.() ?? null,
  };
}

function byName<T extends { name: string }>(a: T, b: T): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

/** Every row of a listing, in a stable order so that paging by offset works between requests. */
function listRows(host: AdminHost, kind: AdminListKind, users: UserDirectory | undefined): object[] {
  const broker = host.broker;
  switch (kind) {
    case 'exchanges':
      return [...broker.exchanges.values()]
        .map(
          (x): ExchangeRow => ({
            name: x.name,
            type: x.type,
            durable: x.durable,
            autoDelete: x.autoDelete,
            internal: x.internal,
            arguments: x.arguments,
            bindings: x.bindingCount,
            ...(x instanceof DelayedExchange && { messagesDelayed: x.schedule.count }),
          }),
        )
        .sort(byName);
    case 'queues':
      return [...broker.queues.values()]
        .map(
          (q): QueueRow => ({
            name: q.name,
            durable: q.durable,
            exclusive: q.exclusive,
            autoDelete: q.autoDelete,
            arguments: q.arguments,
            owner: q.owner,
            messagesReady: q.messageCount,
            messagesUnacked: q.unackedCount,
            readyBytes: q.readyBytes,
            consumers: q.consumerCount,
            published: q.publishedTotal,
            delivered: q.deliveredTotal,
          }),
        )
        .sort(byName);
    case 'bindings':
      return [
        ...broker
          .bindings()
          .map((b): BindingRow => ({ source: b.exchange, destination: b.queue, destinationType: 'queue', routingKey: b.routingKey, arguments: b.arguments })),
        ...broker
          .exchangeBindings()
          .map((b): BindingRow => ({ source: b.source, destination: b.destination, destinationType: 'exchange', routingKey: b.routingKey, arguments: b.arguments })),
      ].sort(
        (a, b) =>
          compare(a.source, b.source) ||
          compare(a.destinationType, b.destinationType) ||
          compare(a.destination, b.destination) ||
          compare(a.routingKey, b.routingKey),
      );
    case 'connections':
      // Map order is open order, which is the order people expect here.
      return [...host.registry.list()].map(
        (c): ConnectionRow => ({
          id: c.id,
          name: c.userProvidedName ?? c.name,
          protocol: c.protocol,
          user: c.user,
          peer: `${c.peerHost}:${c.peerPort}`,
          connectedAt: c.connectedAt,
          channels: c.channelCount,
          heartbeatMs: c.heartbeatMs,
          publishes: c.publishes,
          bytesIn: c.bytesIn,
          client: typeof c.clientProperties['product'] === 'string' ? (c.clientProperties['product'] as string) : '',
        }),
      );
    case 'users':
      return (users?.list() ?? []).map((u): UserRow => ({ name: u.name, tags: [...u.tags], source: u.source }));
    case 'permissions':
    case 'policies':
    case 'operator-policies':
      return []; // listed by their own directories, above
    case 'consumers': {
      const out: ConsumerRow[] = [];
      for (const s of broker.sessions.values()) {
        for (const ch of s.channels.values()) {
          for (const c of ch.consumers.values()) {
            out.push({
              queue: c.queue.name,
              tag: c.tag,
              connection: s.id,
              channel: ch.id,
              noAck: c.noAck,
              exclusive: c.exclusive,
              prefetch: c.prefetch,
              unacked: c.unacked,
            });
          }
        }
      }
      return out.sort((a, b) => compare(a.queue, b.queue) || compare(a.tag, b.tag));
    }
  }
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The rows from `offset` that fit in one frame; `next` is where the following page starts, 0
 * after the last page (SPEC §3.7).
 */
function page(all: object[], offset: number, budget: number): { rows: object[]; next: number } {
  const rows: object[] = [];
  let size = 0;
  let i = offset;
  for (; i < all.length; i++) {
    const n = packValue(all[i]).length;
    if (size + n > budget) {
      if (rows.length === 0) throw new ProtocolError(ReplyCode.PRECONDITION_FAILED, `row ${i} does not fit in a frame of the negotiated frameMax`);
      break;
    }
    size += n;
    rows.push(all[i] as object);
  }
  return { rows, next: i < all.length ? i : 0 };
}
