import { ProtocolError, ReplyCode } from '../../protocol/index.js';
import { DEFAULT_VHOST, vhostNameProblem, type VirtualHosts } from '../broker/vhosts.js';
import type { Logger } from '../log/logger.js';
import type { Limits } from './limits.js';
import type { Permissions } from './permissions.js';
import type { Policies } from './policies.js';
import type { ConnectionRegistry } from './registry.js';
import type { SettingsStore } from './users.js';

/** A vhost as listings and definitions show it (RabbitMQ's fields). */
export interface VhostInfo {
  readonly name: string;
  readonly description: string;
  readonly tags: readonly string[];
  /** RabbitMQ 3.11+'s `default_queue_type`; only `classic` is served. */
  readonly defaultQueueType: string;
}

interface StoredVhost {
  description: string;
  tags: string[];
  default_queue_type?: string;
}

export interface VhostDirectoryOptions {
  vhosts: VirtualHosts;
  store: SettingsStore | null;
  registry: ConnectionRegistry;
  permissions: Permissions;
  limits: Limits;
  policies: Policies;
  log: Logger;
}

/**
 * The daemon's virtual hosts as operators manage them: made and deleted at run time (admin
 * methods, the HTTP API, definitions), kept in the store's settings (kind `vhost`). Deleting one
 * closes its connections (CONNECTION_FORCED, as RabbitMQ), deletes everything in it and every
 * permission, limit and policy it had, and resolves once that is durable.
 */
export class VhostDirectory {
  private readonly info = new Map<string, StoredVhost>([[DEFAULT_VHOST, { description: 'Default virtual host', tags: [] }]]);

  constructor(private readonly o: VhostDirectoryOptions) {}

  /** The brokers of the vhosts (definitions import makes new ones in memory before they are put here). */
  get vhosts(): VirtualHosts {
    return this.o.vhosts;
  }

  /** Takes the vhosts the store restored (restore made their brokers already; empty ones are made here). */
  loadStored(): void {
    for (const s of this.o.store?.settings ?? []) {
      if (s.kind !== 'vhost') continue;
      this.info.set(s.key, JSON.parse(s.value) as StoredVhost);
      this.o.vhosts.add(s.key);
    }
    for (const name of this.o.vhosts.names()) if (!this.info.has(name)) this.info.set(name, { description: '', tags: [] });
  }

  has(name: string): boolean {
    return this.o.vhosts.has(name);
  }

  get(name: string): VhostInfo | undefined {
    const v = this.info.get(name);
    return v === undefined || !this.o.vhosts.has(name) ? undefined : infoOf(name, v);
  }

  list(): VhostInfo[] {
    return this.o.vhosts.names().map((n) => infoOf(n, this.info.get(n) ?? { description: '', tags: [] }));
  }

  /** Checks a vhost's fields; the problem (naming the field), or null. */
  static problem(name: string, fields: { description?: unknown; tags?: unknown; defaultQueueType?: unknown }, where: string): string | null {
    const n = vhostNameProblem(name);
    if (n !== null) return `${where}: ${n}`;
    if (fields.description !== undefined && typeof fields.description !== 'string') return `${where}.description: must be a string`;
    const t = fields.tags;
    if (t !== undefined && !(typeof t === 'string' || (Array.isArray(t) && t.every((x) => typeof x === 'string')))) return `${where}.tags: must be a list of strings`;
    const q = fields.defaultQueueType;
    if (q !== undefined && q !== 'classic' && q !== 'undefined') return `${where}.default_queue_type: only 'classic' queues are served, got ${JSON.stringify(q)}`;
    return null;
  }

  /** Creates a vhost (with its built-in exchanges) or updates its description and tags; resolves once durable. */
  async put(name: string, fields: { description?: unknown; tags?: unknown; defaultQueueType?: unknown } = {}): Promise<'created' | 'updated'> {
    const problem = VhostDirectory.problem(name, fields, 'vhost');
    if (problem !== null) throw new ProtocolError(ReplyCode.PRECONDITION_FAILED, problem);
    const existed = this.o.vhosts.has(name);
    const old = this.info.get(name);
    const tags = fields.tags === undefined ? (old?.tags ?? []) : typeof fields.tags === 'string' ? splitTags(fields.tags) : [...(fields.tags as string[])];
    const stored: StoredVhost = { description: typeof fields.description === 'string' ? fields.description : (old?.description ?? ''), tags };
    this.o.vhosts.add(name);
    this.info.set(name, stored);
    await this.o.store?.changeSetting('vhost', name, JSON.stringify(stored));
    if (!existed) this.o.log.info({ vhost: name }, 'vhost created');
    return existed ? 'updated' : 'created';
  }

  /** Deletes a vhost and everything in it; resolves once durable. NOT_FOUND when there is none. */
  async delete(name: string): Promise<void> {
    if (!this.o.vhosts.has(name)) throw new ProtocolError(ReplyCode.NOT_FOUND, `no vhost '${name}'`);
    if (name === DEFAULT_VHOST) throw new ProtocolError(ReplyCode.PRECONDITION_FAILED, `the default vhost '${DEFAULT_VHOST}' cannot be deleted`);
    const broker = this.o.vhosts.get(name);
    let closed = 0;
    for (const c of [...this.o.registry.list()]) {
      if (c.session?.broker !== broker) continue;
      c.close(ReplyCode.CONNECTION_FORCED, `CONNECTION_FORCED - vhost '${name}' is deleted`);
      closed++;
    }
    this.o.vhosts.delete(name);
    this.info.delete(name);
    const cleared = [this.o.permissions.clearVhost(name), this.o.limits.clearVhost(name), this.o.policies.clearVhost(name)];
    await Promise.all(cleared);
    await this.o.store?.changeSetting('vhost', name, null);
    this.o.log.info({ vhost: name, connectionsClosed: closed }, 'vhost deleted');
  }
}

function infoOf(name: string, v: StoredVhost): VhostInfo {
  return { name, description: v.description, tags: v.tags, defaultQueueType: v.default_queue_type ?? 'classic' };
}

/** RabbitMQ's HTTP API takes tags as one comma-separated string too. */
function splitTags(text: string): string[] {
  return text
    .split(',')
    .map((t) => t.trim())
    .filter((t) => t !== '');
}
