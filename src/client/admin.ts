import {
  Method,
  type AdminListKind,
  type AdminListRows,
  type BindingRow,
  type ConnectionRow,
  type ConsumerRow,
  type ExchangeRow,
  type ParsedMethod,
  type QueueRow,
  type ServerStatus,
  type PermissionRow,
  type PolicyRow,
  type LimitRow,
  type TopicPermissionRow,
  type VhostRow,
  type UserRow,
} from '../../protocol/index.js';
import type { Connection } from './connection.js';
import { SkiffError, ServerError } from './errors.js';

/**
 * The admin methods (SPEC §3.7) of a connection opened by an admin user: status, listings and
 * closing connections. A refusal (not an admin, unknown connection) rejects with a
 * {@link ServerError} of scope `'request'`; the connection stays open.
 *
 * ```ts
 * const admin = new Admin(await connect(url));
 * const { messagesReady } = await admin.status();
 * ```
 */
export class Admin {
  readonly connection: Connection;

  constructor(connection: Connection) {
    this.connection = connection;
  }

  /** A snapshot of the daemon: counts, rates, memory, store lag. */
  async status(): Promise<ServerStatus> {
    const r = await this.request(Method.AdminStatus, [], Method.AdminStatusOk);
    return r.args[0] as ServerStatus;
  }

  /**
   * Every row of a listing, fetched page by page (each page fits one frame). Exchanges, queues,
   * bindings and consumers are those of `vhost` (default: the vhost this connection opened);
   * permissions and policies are every vhost's unless `vhost` names one.
   */
  async list<K extends AdminListKind>(kind: K, options: { vhost?: string } = {}): Promise<AdminListRows[K][]> {
    const out: AdminListRows[K][] = [];
    let offset = 0;
    do {
      const r = await this.request(Method.AdminList, [kind, offset, options.vhost ?? ''], Method.AdminListOk);
      const [rows, next] = r.args as [unknown, number];
      if (!Array.isArray(rows)) throw new SkiffError('ERR_UNEXPECTED_REPLY', 'admin.list-ok: rows is not an array');
      out.push(...(rows as AdminListRows[K][]));
      // A next offset that does not advance would loop forever on a broken server.
      if (next !== 0 && next <= offset) throw new SkiffError('ERR_UNEXPECTED_REPLY', `admin.list-ok: next ${next} does not advance past ${offset}`);
      offset = next;
    } while (offset !== 0);
    return out;
  }

  exchanges(options: { vhost?: string } = {}): Promise<ExchangeRow[]> {
    return this.list('exchanges', options);
  }

  queues(options: { vhost?: string } = {}): Promise<QueueRow[]> {
    return this.list('queues', options);
  }

  bindings(options: { vhost?: string } = {}): Promise<BindingRow[]> {
    return this.list('bindings', options);
  }

  vhosts(): Promise<VhostRow[]> {
    return this.list('vhosts');
  }

  /** Creates a vhost (with its built-in exchanges) or updates its description and tags; `true` when created, once durable. */
  async putVhost(name: string, fields: { description?: string; tags?: readonly string[] } = {}): Promise<boolean> {
    const value: Record<string, unknown> = {};
    if (fields.description !== undefined) value['description'] = fields.description;
    if (fields.tags !== undefined) value['tags'] = [...fields.tags];
    const r = await this.request(Method.AdminPut, ['vhost', name, value], Method.AdminPutOk);
    return r.args[0] === true;
  }

  /** Deletes a vhost and everything in it; its connections are closed (CONNECTION_FORCED). Resolves once durable. */
  async deleteVhost(name: string): Promise<void> {
    await this.request(Method.AdminDelete, ['vhost', name], Method.AdminDeleteOk);
  }

  /** Sets limits of a vhost (`max-connections`, `max-queues`) or a user (`max-connections`, `max-channels`); a negative value clears one. */
  async setLimits(scope: 'vhost' | 'user', name: string, limits: Record<string, number>): Promise<void> {
    await this.request(Method.AdminPut, [`${scope}-limits`, name, { ...limits }], Method.AdminPutOk);
  }

  /** Clears every limit of a vhost or user. */
  async clearLimits(scope: 'vhost' | 'user', name: string): Promise<void> {
    await this.request(Method.AdminDelete, [`${scope}-limits`, name], Method.AdminDeleteOk);
  }

  limits(scope: 'vhost' | 'user'): Promise<LimitRow[]> {
    return this.list(scope === 'vhost' ? 'vhost-limits' : 'user-limits');
  }

  /** Sets a user's topic permission (write/read regular expressions over routing keys) on one topic exchange of a vhost. */
  async setTopicPermissions(user: string, p: { exchange: string; write: string; read: string }, options: { vhost?: string } = {}): Promise<boolean> {
    const value: Record<string, unknown> = { exchange: p.exchange, write: p.write, read: p.read };
    if (options.vhost !== undefined) value['vhost'] = options.vhost;
    const r = await this.request(Method.AdminPut, ['topic-permission', user, value], Method.AdminPutOk);
    return r.args[0] === true;
  }

  /** Clears every topic permission of a user in a vhost. */
  async clearTopicPermissions(user: string, options: { vhost?: string } = {}): Promise<void> {
    await this.request(Method.AdminDelete, ['topic-permission', user, options.vhost ?? ''], Method.AdminDeleteOk);
  }

  topicPermissions(options: { vhost?: string } = {}): Promise<TopicPermissionRow[]> {
    return this.list('topic-permissions', options);
  }

  connections(): Promise<ConnectionRow[]> {
    return this.list('connections');
  }

  consumers(): Promise<ConsumerRow[]> {
    return this.list('consumers');
  }

  users(): Promise<UserRow[]> {
    return this.list('users');
  }

  /**
   * Creates or changes a run-time user (SPEC §3.7.6); resolves `true` when it was created, once
   * the change is durable. `tags` replaces the user's tags; what is left out is kept.
   */
  async putUser(name: string, change: { password?: string; passwordHash?: string; hashingAlgorithm?: string; tags?: readonly string[] }): Promise<boolean> {
    const value: Record<string, unknown> = {};
    if (change.password !== undefined) value['password'] = change.password;
    if (change.passwordHash !== undefined) value['password_hash'] = change.passwordHash;
    if (change.hashingAlgorithm !== undefined) value['hashing_algorithm'] = change.hashingAlgorithm;
    if (change.tags !== undefined) value['tags'] = [...change.tags];
    const r = await this.request(Method.AdminPut, ['user', name, value], Method.AdminPutOk);
    return r.args[0] === true;
  }

  /** Sets a user's permissions on a vhost (default: this connection's) (SPEC §3.7.6); new connections get them. */
  async setPermissions(user: string, p: { configure: string; write: string; read: string }, options: { vhost?: string } = {}): Promise<boolean> {
    const value: Record<string, unknown> = { configure: p.configure, write: p.write, read: p.read };
    if (options.vhost !== undefined) value['vhost'] = options.vhost;
    const r = await this.request(Method.AdminPut, ['permission', user, value], Method.AdminPutOk);
    return r.args[0] === true;
  }

  async clearPermissions(user: string, options: { vhost?: string } = {}): Promise<void> {
    await this.request(Method.AdminDelete, ['permission', user, options.vhost ?? ''], Method.AdminDeleteOk);
  }

  permissions(options: { vhost?: string } = {}): Promise<PermissionRow[]> {
    return this.list('permissions', options);
  }

  /**
   * Sets a policy (or with `operator: true` an operator policy) on the vhost `/` (SPEC §3.7.6);
   * resolves `true` when it was created, once durable. It applies at once to matching queues and exchanges.
   */
  async setPolicy(
    name: string,
    p: { pattern: string; definition: Record<string, unknown>; priority?: number; applyTo?: 'queues' | 'exchanges' | 'all'; operator?: boolean; vhost?: string },
  ): Promise<boolean> {
    const value: Record<string, unknown> = { pattern: p.pattern, definition: p.definition };
    if (p.vhost !== undefined) value['vhost'] = p.vhost;
    if (p.priority !== undefined) value['priority'] = p.priority;
    if (p.applyTo !== undefined) value['apply-to'] = p.applyTo;
    const r = await this.request(Method.AdminPut, [p.operator === true ? 'operator-policy' : 'policy', name, value], Method.AdminPutOk);
    return r.args[0] === true;
  }

  /** Clears a policy (or operator policy); NOT_FOUND when there is none. */
  async clearPolicy(name: string, options: { operator?: boolean; vhost?: string } = {}): Promise<void> {
    await this.request(Method.AdminDelete, [options.operator === true ? 'operator-policy' : 'policy', name, options.vhost ?? ''], Method.AdminDeleteOk);
  }

  policies(options: { operator?: boolean; vhost?: string } = {}): Promise<PolicyRow[]> {
    return this.list(options.operator === true ? 'operator-policies' : 'policies', options.vhost !== undefined ? { vhost: options.vhost } : {});
  }

  /** Deletes a run-time user; their open connections stay open. */
  async deleteUser(name: string): Promise<void> {
    await this.request(Method.AdminDelete, ['user', name], Method.AdminDeleteOk);
  }

  /** Closes another connection with CONNECTION_FORCED; `id` as listed by {@link connections}. */
  async closeConnection(id: string, reason = 'closed by an operator'): Promise<void> {
    await this.request(Method.AdminCloseConnection, [id, reason], Method.AdminCloseConnectionOk);
  }

  private async request(methodId: number, args: unknown[], expect: number): Promise<ParsedMethod> {
    const r = await this.connection.request0(methodId, args);
    if (r.def.id === Method.AdminError) {
      const [code, text, failedMethod] = r.args as [number, string, number];
      throw new ServerError(code, text, 'request', failedMethod);
    }
    if (r.def.id !== expect) {
      throw new SkiffError('ERR_UNEXPECTED_REPLY', `expected reply 0x${expect.toString(16)}, got ${r.def.name}`);
    }
    return r;
  }
}
