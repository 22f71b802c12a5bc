import type { PolicyRow } from '../../protocol/index.js';
import type { Broker } from '../broker/broker.js';
import { checkPolicy, type PolicyKind, type PolicySpec } from '../broker/policy.js';
import type { Logger } from '../log/logger.js';
import type { SettingsStore } from './users.js';

/** RabbitMQ's JSON form of a policy (`rabbitmqctl list_policies`, `/api/policies`, definitions). */
export type PolicyJson = PolicyRow;

export function policyJson(p: PolicySpec): PolicyJson {
  return { vhost: '/', name: p.name, pattern: p.pattern, 'apply-to': p.applyTo, priority: p.priority, definition: { ...p.definition } };
}

/** Tags that may set policies, as RabbitMQ's management plugin has it. */
export function mayManagePolicies(principal: { admin?: boolean; tags?: readonly string[] } | null | undefined): boolean {
  return principal?.admin === true || (principal?.tags ?? []).includes('policymaker') || (principal?.tags ?? []).includes('administrator');
}

/**
 * Policies and operator policies of the vhost `/`, kept in the store's settings (kind `policy` or
 * `operator-policy`, key the name) and applied to the broker's queues and exchanges whenever one
 * changes, and once the store is restored.
 */
export class Policies {
  constructor(
    private readonly broker: Broker,
    private readonly store: SettingsStore | null,
    private readonly log: Logger,
  ) {}

  /** Takes the policies the store restored and applies them (before any connection is served). */
  loadStored(): void {
    for (const s of this.store?.settings ?? []) {
      if (s.kind !== 'policy' && s.kind !== 'operator-policy') continue;
      const v = JSON.parse(s.value) as { pattern: string; 'apply-to': string; priority: number; definition: Record<string, unknown> };
      this.broker.policies.set(s.kind, checkPolicy(s.kind, s.key, { pattern: v.pattern, applyTo: v['apply-to'], priority: v.priority, definition: v.definition }));
    }
    this.broker.applyPolicies();
  }

  /** Checks and sets a policy; resolves `created` or `updated` once durable. Throws PRECONDITION_FAILED naming the bad field. */
  async set(kind: PolicyKind, name: string, input: { pattern: unknown; applyTo?: unknown; priority?: unknown; definition: unknown }): Promise<'created' | 'updated'> {
    const spec = checkPolicy(kind, name, input);
    const existed = this.broker.policies.get(kind, name) !== undefined;
    this.broker.policies.set(kind, spec);
    this.broker.applyPolicies();
    const { vhost: _vhost, name: _name, ...stored } = policyJson(spec);
    await this.store?.changeSetting(kind, name, JSON.stringify(stored));
    this.log.info({ kind, name, pattern: spec.pattern, applyTo: spec.applyTo, priority: spec.priority }, 'policy set');
    return existed ? 'updated' : 'created';
  }

  /** Clears a policy; false when there was none. */
  async clear(kind: PolicyKind, name: string): Promise<boolean> {
    if (!this.broker.policies.clear(kind, name)) return false;
    this.broker.applyPolicies();
    await this.store?.changeSetting(kind, name, null);
    this.log.info({ kind, name }, 'policy cleared');
    return true;
  }

  list(kind: PolicyKind): PolicyJson[] {
    return this.broker.policies.list(kind).map(policyJson);
  }

  get(kind: PolicyKind, name: string): PolicyJson | undefined {
    const p = this.broker.policies.get(kind, name);
    return p === undefined ? undefined : policyJson(p);
  }
}
