import { ProtocolError, ReplyCode } from '../../protocol/index.js';
import { emptyPolicy, show, type Mutable, type QueuePolicy } from './queue-args.js';

/** What a policy applies to (RabbitMQ's `apply-to`, the three kinds classic queues know). */
export type ApplyTo = 'queues' | 'exchanges' | 'all';
const APPLY_TO: readonly ApplyTo[] = ['queues', 'exchanges', 'all'];

/** One policy as set by `skiff policy set`, `PUT /api/policies/…` or a definitions import. */
export interface PolicySpec {
  readonly name: string;
  readonly pattern: string;
  readonly applyTo: ApplyTo;
  readonly priority: number;
  readonly definition: Readonly<Record<string, unknown>>;
}

export type PolicyKind = 'policy' | 'operator-policy';

type KeyCheck = (v: unknown) => string | null;

const nonNegative: KeyCheck = (v) => (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? null : `expected a non-negative integer, got ${show(v)}`);
const positive: KeyCheck = (v) => (typeof v === 'number' && Number.isSafeInteger(v) && v >= 1 ? null : `expected a positive integer, got ${show(v)}`);
const text: KeyCheck = (v) => (typeof v === 'string' ? null : `expected a string, got ${show(v)}`);
const overflow: KeyCheck = (v) =>
  v === 'drop-head' || v === 'reject-publish' || v === 'reject-publish-dlx' ? null : `expected 'drop-head', 'reject-publish' or 'reject-publish-dlx', got ${show(v)}`;

/**
 * The definition keys a policy may set, as RabbitMQ names them for classic queues and
 * exchanges. `max-priority` is a declare-time argument only in RabbitMQ, and stays so here.
 */
const POLICY_KEYS: ReadonlyMap<string, KeyCheck> = new Map([
  ['message-ttl', nonNegative],
  ['expires', positive],
  ['max-length', nonNegative],
  ['max-length-bytes', nonNegative],
  ['overflow', overflow],
  ['dead-letter-exchange', text],
  ['dead-letter-routing-key', text],
  ['delivery-limit', nonNegative],
  ['alternate-exchange', text],
]);

/** Keys an operator policy may cap (RabbitMQ's list, less what classic queues here lack). */
const OPERATOR_KEYS: readonly string[] = ['message-ttl', 'expires', 'max-length', 'max-length-bytes', 'delivery-limit'];

/** Keys where, when a policy and an `x-` argument (or an operator policy) both set them, the lower value wins. */
const LOWER_WINS: ReadonlySet<string> = new Set(OPERATOR_KEYS);

export const POLICY_DEFINITION_KEYS: readonly string[] = [...POLICY_KEYS.keys()];

function bad(text: string): ProtocolError {
  return new ProtocolError(ReplyCode.PRECONDITION_FAILED, text);
}

/**
 * Checks a policy (or operator policy) and returns it; throws PRECONDITION_FAILED naming the
 * first bad field or definition key.
 */
export function checkPolicy(kind: PolicyKind, name: string, input: { pattern: unknown; applyTo?: unknown; priority?: unknown; definition: unknown }): PolicySpec {
  const what = kind === 'policy' ? 'policy' : 'operator policy';
  if (name === '') throw bad(`${what} name must not be empty`);
  const { pattern, applyTo = 'all', priority = 0, definition } = input;
  if (typeof pattern !== 'string') throw bad(`${what} '${name}': pattern must be a string, got ${show(pattern)}`);
  try {
    new RegExp(pattern);
  } catch (e) {
    throw bad(`${what} '${name}': pattern ${show(pattern)} is not a valid regular expression: ${(e as Error).message}`);
  }
  if (typeof applyTo !== 'string' || !(APPLY_TO as readonly string[]).includes(applyTo)) {
    throw bad(`${what} '${name}': apply-to must be 'queues', 'exchanges' or 'all', got ${show(applyTo)}`);
  }
  if (typeof priority !== 'number' || !Number.isSafeInteger(priority)) throw bad(`${what} '${name}': priority must be an integer, got ${show(priority)}`);
  if (typeof definition !== 'object' || definition === null || Array.isArray(definition)) {
    throw bad(`${what} '${name}': definition must be a JSON object, got ${show(definition)}`);
  }
  const def = definition as Record<string, unknown>;
  const keys = Object.keys(def);
  if (keys.length === 0) throw bad(`${what} '${name}': definition must set at least one key`);
  const allowed = kind === 'policy' ? POLICY_DEFINITION_KEYS : OPERATOR_KEYS;
  for (const key of keys) {
    const check = POLICY_KEYS.get(key);
    if (check === undefined || !allowed.includes(key)) {
      throw bad(`${what} '${name}': unknown definition key '${key}' (expected ${allowed.join(', ')})`);
    }
    const reason = check(def[key]);
    if (reason !== null) throw bad(`${what} '${name}': invalid value for '${key}': ${reason}`);
  }
  if (def['dead-letter-routing-key'] !== undefined && def['dead-letter-exchange'] === undefined) {
    throw bad(`${what} '${name}': 'dead-letter-routing-key' requires 'dead-letter-exchange'`);
  }
  return { name, pattern, applyTo: applyTo as ApplyTo, priority, definition: { ...def } };
}

/** What applies to one queue or exchange: the policy and operator policy that matched, merged. */
export interface EffectivePolicy {
  readonly policy: string | null;
  readonly operatorPolicy: string | null;
  readonly definition: Readonly<Record<string, unknown>>;
}

interface Compiled {
  readonly spec: PolicySpec;
  readonly re: RegExp;
}

/**
 * The policies and operator policies of the vhost `/`. Of those that match a name, the one of
 * highest priority applies (RabbitMQ; a tie goes to the name that sorts last, so the choice
 * does not depend on the order they were set in). An operator policy caps: for a key both set,
 * the lower value wins.
 */
export class PolicyBook {
  private readonly books: Record<PolicyKind, Map<string, Compiled>> = { policy: new Map(), 'operator-policy': new Map() };

  set(kind: PolicyKind, spec: PolicySpec): void {
    this.books[kind].set(spec.name, { spec, re: new RegExp(spec.pattern) });
  }

  /** False when there was no such policy. */
  clear(kind: PolicyKind, name: string): boolean {
    return this.books[kind].delete(name);
  }

  get(kind: PolicyKind, name: string): PolicySpec | undefined {
    return this.books[kind].get(name)?.spec;
  }

  list(kind: PolicyKind): PolicySpec[] {
    return [...this.books[kind].values()].map((c) => c.spec).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  get empty(): boolean {
    return this.books.policy.size === 0 && this.books['operator-policy'].size === 0;
  }

  private best(kind: PolicyKind, target: 'queues' | 'exchanges', name: string): PolicySpec | null {
    let best: PolicySpec | null = null;
    for (const { spec, re } of this.books[kind].values()) {
      if (spec.applyTo !== 'all' && spec.applyTo !== target) continue;
      if (!re.test(name)) continue;
      if (best === null || spec.priority > best.priority || (spec.priority === best.priority && spec.name > best.name)) best = spec;
    }
    return best;
  }

  /** The merged definition for a queue or exchange named `name`; null when nothing matches. */
  effective(target: 'queues' | 'exchanges', name: string): EffectivePolicy | null {
    if (this.empty) return null;
    const p = this.best('policy', target, name);
    // Operator policies cap queue properties only; an exchange has nothing they can set.
    const op = target === 'queues' ? this.best('operator-policy', target, name) : null;
    if (p === null && op === null) return null;
    const definition: Record<string, unknown> = { ...p?.definition };
    for (const [k, v] of Object.entries(op?.definition ?? {})) {
      const mine = definition[k];
      definition[k] = typeof mine === 'number' && typeof v === 'number' ? Math.min(mine, v) : v;
    }
    return { policy: p?.name ?? null, operatorPolicy: op?.name ?? null, definition };
  }
}

/**
 * A queue's properties from its `x-` arguments and the effective policy, with RabbitMQ's
 * precedence: an argument wins over the policy, except for limits (TTLs, lengths, delivery
 * limit), where the lower of the two wins. Null when neither sets anything.
 */
export function mergeQueuePolicy(fromArgs: QueuePolicy | null, args: Readonly<Record<string, unknown>>, effective: EffectivePolicy | null): QueuePolicy | null {
  if (effective === null) return fromArgs;
  const d = effective.definition;
  const p: Mutable<QueuePolicy> = fromArgs === null ? emptyPolicy() : { ...fromArgs };
  const limit = (key: string, arg: number | null): number | null => {
    const v = d[key];
    if (typeof v !== 'number') return arg;
    return arg === null || !LOWER_WINS.has(key) ? (arg ?? v) : Math.min(arg, v);
  };
  p.messageTtl = limit('message-ttl', p.messageTtl);
  p.expires = limit('expires', p.expires);
  p.maxLength = limit('max-length', p.maxLength);
  p.maxLengthBytes = limit('max-length-bytes', p.maxLengthBytes);
  p.deliveryLimit = limit('delivery-limit', p.deliveryLimit);
  // `x-overflow` defaults to drop-head in the parsed form, so the argument itself is asked.
  if (typeof d['overflow'] === 'string' && args['x-overflow'] === undefined) p.overflow = d['overflow'] as QueuePolicy['overflow'];
  if (typeof d['dead-letter-exchange'] === 'string' && p.deadLetterExchange === null) p.deadLetterExchange = d['dead-letter-exchange'];
  if (typeof d['dead-letter-routing-key'] === 'string' && p.deadLetterRoutingKey === null) p.deadLetterRoutingKey = d['dead-letter-routing-key'];
  return p;
}

/** An exchange's alternate exchange: its argument wins over the policy's. */
export function mergeAlternate(fromArgs: string | null, effective: EffectivePolicy | null): string | null {
  if (fromArgs !== null) return fromArgs;
  const v = effective?.definition['alternate-exchange'];
  return typeof v === 'string' ? v : null;
}
