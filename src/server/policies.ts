import { ProtocolError, ReplyCode, type PolicyRow } from '../../protocol/index.js';
import type { Broker } from '../broker/broker.js';
import { checkPolicy, type PolicyKind, type PolicySpec } from '../broker/policy.js';
import { DEFAULT_VHOST, VirtualHosts } from '../broker/vhosts.js';
import type { Logger } from '../log/logger.js';
import type { SettingsStore } from './users.js';

/** RabbitMQ's JSON form of a policy (`rabbitmqctl list_policies`, `/api/policies`, definitions). */
export type PolicyJson = PolicyRow;

export function policyJson(p: PolicySpec, vhost: string = DEFAULT_VHOST): PolicyJson {
  return { vhost, name: p.name, pattern: p.pattern, 'apply-to': p.applyTo, priority: p.priority, definition: { ...p.definition } };
}

/** Tags that may set policies, as RabbitMQ's management plugin has it. */
export function mayManagePolicies(principal: { admin?: boolean; tags?: readonly string[] } | null | undefined): boolean {
  return principal?.admin === true || (principal?.tags ?? []).includes('policymaker') || (principal?.tags ?? []).includes('administrator');
}

/** The settings key of a policy: `vhost` NUL `name`. */
function keyOf(vhost: string, name: string): string {
  return `${vhost}\u0000${name}`;
}

/**
 * Policies and operator policies of every vhost, kept in the store's settings (kind `policy` or
 * `operator-policy`, key `vhost` NUL `name`) and applied to the queues and exchanges of their
 * vhost's broker whenever one changes, and once the store is restored.
 */
export class Policies {
  private readonly vhosts: VirtualHosts;

  constructor(
    vhosts: VirtualHosts | Broker,
    private readonly store: SettingsStore | null,
    private readonly log: Logger,
  ) {
    this.vhosts = vhosts instanceof VirtualHosts ? vhosts : new VirtualHosts(vhosts);
  }

  private broker(vhost: string): Broker {
    const b = this.vhosts.get(vhost);
    if (b === undefined) throw new ProtocolError(ReplyCode.NOT_FOUND, `no vhost '${vhost}'`);
    return b;
  }

  /** Takes the policies the store restored and applies them (before any connection is served). */
  loadStored(): void {
    for (const s of this.store?.settings ?? []) {
      if (s.kind !== 'policy' && s.kind !== 'operator-policy') continue;
      const nul = s.key.indexOf('\u0000');
      const [vhost, name] = nul < 0 ? [DEFAULT_VHOST, s.key] : [s.key.slice(0, nul), s.key.slice(nul + 1)];
      const b = this.vhosts.get(vhost);
      if (b === undefined) {
        this.log.warn({ vhost, name }, 'stored policy of a vhost that does not exist; ignored');
        continue;
      }
      const v = JSON.parse(s.value) as { pattern: string; 'apply-to': string; priority: number; definition: Record<string, unknown> };
      b.policies.set(s.kind, checkPolicy(s.kind, name, { pattern: v.pattern, applyTo: v['apply-to'], priority: v.priority, definition: v.definition }));
    }
    for (const b of this.vhosts.all()) b.applyPolicies();
  }

  /** Checks and sets a policy; resolves `created` or `updated` once durable. Throws PRECONDITION_FAILED naming the bad field. */
  async set(
    kind: PolicyKind,
    name: string,
    input: { pattern: unknown; applyTo?: unknown; priority?: unknown; definition: unknown },
    vhost: string = DEFAULT_VHOST,
  ): Promise<'created' | 'updated'> {
    const broker = this.broker(vhost);
    const spec = checkPolicy(kind, name, input);
    const existed = broker.policies.get(kind, name) !== undefined;
    broker.policies.set(kind, spec);
    broker.applyPolicies();
    const { vhost: _vhost, name: _name, ...stored } = policyJson(spec, vhost);
    await this.store?.changeSetting(kind, keyOf(vhost, name), JSON.stringify(stored));
    this.log.info({ kind, vhost, name, pattern: spec.pattern, applyTo: spec.applyTo, priority: spec.priority }, 'policy set');
    return existed ? 'updated' : 'created';
  }

  /** Clears a policy; false when there was none. */
  async clear(kind: PolicyKind, name: string, vhost: string = DEFAULT_VHOST): Promise<boolean> {
    const broker = this.vhosts.get(vhost);
    if (broker === undefined || !broker.policies.clear(kind, name)) return false;
    broker.applyPolicies();
    await this.store?.changeSetting(kind, keyOf(vhost, name), null);
    this.log.info({ kind, vhost, name }, 'policy cleared');
    return true;
  }

  /** The vhost is being deleted: its policies' settings go (its broker goes with the vhost). */
  async clearVhost(vhost: string): Promise<void> {
    const gone = (this.store?.settings ?? []).filter((s) => (s.kind === 'policy' || s.kind === 'operator-policy') && s.key.startsWith(`${vhost}\u0000`));
    await Promise.all(gone.map((s) => this.store?.changeSetting(s.kind, s.key, null)));
  }

  /** The policies of one vhost, or of every vhost (undefined). */
  list(kind: PolicyKind, vhost?: string): PolicyJson[] {
    const out: PolicyJson[] = [];
    for (const b of this.vhosts.all()) {
      if (vhost !== undefined && b.vhost !== vhost) continue;
      for (const p of b.policies.list(kind)) out.push(policyJson(p, b.vhost));
    }
    return out;
  }

  get(kind: PolicyKind, name: string, vhost: string = DEFAULT_VHOST): PolicyJson | undefined {
    const p = this.vhosts.get(vhost)?.policies.get(kind, name);
    return p === undefined ? undefined : policyJson(p, vhost);
  }
}
