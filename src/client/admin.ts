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

  /** Every row of a listing, fetched page by page (each page fits one frame). */
  async list<K extends AdminListKind>(kind: K): Promise<AdminListRows[K][]> {
    const out: AdminListRows[K][] = [];
    let offset = 0;
    do {
      const r = await this.request(Method.AdminList, [kind, offset], Method.AdminListOk);
      const [rows, next] = r.args as [unknown, number];
      if (!Array.isArray(rows)) throw new SkiffError('ERR_UNEXPECTED_REPLY', 'admin.list-ok: rows is not an array');
      out.push(...(rows as AdminListRows[K][]));
      // A next offset that does not advance would loop forever on a broken server.
      if (next !== 0 && next <= offset) throw new SkiffError('ERR_UNEXPECTED_REPLY', `admin.list-ok: next ${next} does not advance past ${offset}`);
      offset = next;
    } while (offset !== 0);
    return out;
  }

  exchanges(): Promise<ExchangeRow[]> {
    return this.list('exchanges');
  }

  queues(): Promise<QueueRow[]> {
    return this.list('queues');
  }

  bindings(): Promise<BindingRow[]> {
    return this.list('bindings');
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

  /** Sets a user's permissions on the vhost `/` (SPEC §3.7.6); new connections get them. */
  async setPermissions(user: string, p: { configure: string; write: string; read: string }): Promise<boolean> {
    const r = await this.request(Method.AdminPut, ['permission', user, { configure: p.configure, write: p.write, read: p.read }], Method.AdminPutOk);
    return r.args[0] === true;
  }

  async clearPermissions(user: string): Promise<void> {
    await this.request(Method.AdminDelete, ['permission', user], Method.AdminDeleteOk);
  }

  permissions(): Promise<PermissionRow[]> {
    return this.list('permissions');
  }

  /**
   * Sets a policy (or with `operator: true` an operator policy) on the vhost `/` (SPEC §3.7.6);
   * resolves `true` when it was created, once durable. It applies at once to matching queues and exchanges.
   */
  async setPolicy(name: string, p: { pattern: string; definition: Record<string, unknown>; priority?: number; applyTo?: 'queues' | 'exchanges' | 'all'; operator?: boolean }): Promise<boolean> {
    const value: Record<string, unknown> = { pattern: p.pattern, definition: p.definition };
    if (p.priority !== undefined) value['priority'] = p.priority;
    if (p.applyTo !== undefined) value['apply-to'] = p.applyTo;
    const r = await this.request(Method.AdminPut, [p.operator === true ? 'operator-policy' : 'policy', name, value], Method.AdminPutOk);
    return r.args[0] === true;
  }

  /** Clears a policy (or operator policy); NOT_FOUND when there is none. */
  async clearPolicy(name: string, options: { operator?: boolean } = {}): Promise<void> {
    await this.request(Method.AdminDelete, [options.operator === true ? 'operator-policy' : 'policy', name], Method.AdminDeleteOk);
  }

  policies(options: { operator?: boolean } = {}): Promise<PolicyRow[]> {
    return this.list(options.operator === true ? 'operator-policies' : 'policies');
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
