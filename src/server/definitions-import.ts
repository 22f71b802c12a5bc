import { DELAYED_TYPE, DELAYED_TYPE_ARG, checkDelayedArguments } from '../broker/exchange/delayed.js';
import { ProtocolError, type Definitions, type QueueDefinition } from '../../protocol/index.js';
import type { Broker } from '../broker/broker.js';
import { EXCHANGE_TYPES } from '../broker/exchange/types.js';
import { parseUserChange } from './user-change.js';
import { Limits } from './limits.js';
import { checkPolicy, type PolicySpec } from '../broker/policy.js';
import type { Policies } from './policies.js';
import { Permissions, type AccessGuard, type PermissionSet } from './permissions.js';
import { UserDirectory, type UserChange } from './users.js';

/** One finding of an import, by where it is in the document: `queues[2].type`. */
export interface ImportProblem {
  path: string;
  message: string;
}

export interface ImportResult {
  users: number;
  permissions: number;
  policies: number;
  exchanges: number;
  queues: number;
  bindings: number;
  /** What was left out, and why (unsupported sections, built-in users, …). */
  warnings: ImportProblem[];
}

/** An import that changed nothing: every error found, and the warnings beside them. */
export class ImportError extends Error {
  override name = 'ImportError';
  constructor(
    readonly errors: ImportProblem[],
    readonly warnings: ImportProblem[],
  ) {
    const lines = errors.map((e) => `${e.path}: ${e.message}`);
    super(lines.length === 1 ? (lines[0] as string) : `${lines.length} problems: ${lines.join('; ')}`);
  }
}

const DEFAULT_VHOST = '/';
/** Informational global parameters every RabbitMQ export carries. */
const QUIET_GLOBALS = new Set(['cluster_name', 'internal_cluster_id']);

interface Plan {
  users: { name: string; change: UserChange }[];
  limits: { scope: 'user' | 'vhost'; key: string; name: string; value: number }[];
  permissions: { user: string; set: PermissionSet }[];
  queues: QueueDefinition[];
  policies: PolicySpec[];
  operatorPolicies: PolicySpec[];
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/**
 * Checks a definitions document (Skiff's, or RabbitMQ's export as 3.10–3.13 write it) against
 * this daemon: every error and warning is found first, by path, and nothing changes unless there
 * are no errors. Then exchanges, queues and bindings are declared in one event-loop turn; if the
 * broker refuses one (an inequivalent redeclare), what this import created is removed again, so
 * an import is all or nothing. Users come last, each durable before the reply.
 */
export async function importDefinitions(
  defs: Definitions,
  broker: Broker,
  users: UserDirectory,
  permissions: Permissions,
  limits: Limits,
  access: AccessGuard,
  policies: Policies,
): Promise<ImportResult> {
  const errors: ImportProblem[] = [];
  const warnings: ImportProblem[] = [];
  const plan = check(defs, broker, users, access, errors, warnings);
  if (errors.length !== 0) throw new ImportError(errors, warnings);
  applyTopology(defs, plan, broker, warnings);
  for (const u of plan.users) await users.put(u.name, u.change);
  for (const p of plan.permissions) await permissions.set(p.user, DEFAULT_VHOST, p.set);
  for (const l of plan.limits) await limits.set(l.scope, l.key, l.name, l.value);
  for (const p of plan.policies) await policies.set('policy', p.name, p);
  for (const p of plan.operatorPolicies) await policies.set('operator-policy', p.name, p);
  return {
    users: plan.users.length,
    permissions: plan.permissions.length,
    policies: plan.policies.length + plan.operatorPolicies.length,
    exchanges: defs.exchanges.length,
    queues: defs.queues.length,
    bindings: defs.bindings.length,
    warnings,
  };
}

function check(defs: Definitions, broker: Broker, users: UserDirectory, access: AccessGuard, errors: ImportProblem[], warnings: ImportProblem[]): Plan {
  const err = (path: string, message: string): number => errors.push({ path, message });
  const warn = (path: string, message: string): number => warnings.push({ path, message });
  const vhostOk = (path: string, vhost: string | undefined): void => {
    if (vhost !== undefined && vhost !== DEFAULT_VHOST) err(`${path}.vhost`, `no vhost '${vhost}': only '/' exists (virtual hosts are not supported yet)`);
  };
  const rabbit = defs.rabbit ?? {};
  const list = (key: keyof typeof rabbit): unknown[] => {
    const v = rabbit[key];
    if (v === undefined) return [];
    if (!Array.isArray(v)) {
      err(key, `must be an array, got ${v === null ? 'null' : typeof v}`);
      return [];
    }
    return v;
  };

  const plan: Plan = { users: [], limits: [], permissions: [], queues: [], policies: [], operatorPolicies: [] };
  const limitsOf = (path: string, scope: 'user' | 'vhost', key: string, v: unknown): void => {
    // RabbitMQ writes an object ({"max-connections": 5}) or, for vhosts, a list of pairs.
    const pairs: unknown[] = Array.isArray(v) ? v : isObject(v) ? Object.entries(v) : [];
    if (v !== undefined && !Array.isArray(v) && !isObject(v)) err(path, 'must be an object of limits');
    pairs.forEach((p, j) => {
      const [name, value] = Array.isArray(p) ? (p as [unknown, unknown]) : [undefined, undefined];
      const problem = Limits.problem(scope, String(name), value);
      if (problem !== null) err(Array.isArray(v) ? `${path}[${j}]` : `${path}.${String(name)}`, problem);
      else plan.limits.push({ scope, key, name: String(name), value: value as number });
    });
  };
  const refused = (path: string, op: 'configure' | 'write' | 'read', resource: 'queue' | 'exchange', name: string): void => {
    if (!access.allows(op, name)) err(path, `${op} access to ${resource} '${name === '' ? 'amq.default' : name}' in vhost '/' refused for user '${access.user}'`);
  };
  list('users').forEach((u, i) => {
    const at = `users[${i}]`;
    if (!isObject(u)) return err(at, 'must be an object');
    const { name, limits, ...rest } = u;
    if (typeof name !== 'string') return err(`${at}.name`, 'is required and must be a string');
    const existing = users.get(name);
    if (existing !== undefined && existing.source !== 'runtime') {
      return warn(at, existing.source === 'builtin' ? `'${name}' is the built-in guest user; not imported` : `'${name}' is defined in the config file; not imported`);
    }
    if (rest['password_hash'] === '') return warn(`${at}.password_hash`, `'${name}' has no password (RabbitMQ's passwordless user); not imported`);
    // RabbitMQ wrote no algorithm before 3.6: those hashes are MD5, which Skiff does not take.
    const value = { hashing_algorithm: 'rabbit_password_hashing_sha256', ...rest };
    let change: UserChange;
    try {
      change = parseUserChange(value, at);
    } catch (e) {
      return err(at, (e as Error).message.replace(`${at}.`, ''));
    }
    if (change.password === undefined && change.passwordHash === undefined) return err(`${at}.password_hash`, 'is required');
    const problem = UserDirectory.problem(name, change);
    if (problem !== null) return err(at, `user '${name}': ${problem}`);
    limitsOf(`${at}.limits`, 'user', name, limits);
    return plan.users.push({ name, change });
  });
  list('vhosts').forEach((v, i) => {
    const at = `vhosts[${i}]`;
    if (!isObject(v) || typeof v['name'] !== 'string') return err(`${at}.name`, 'is required and must be a string');
    if (v['name'] !== DEFAULT_VHOST) return err(at, `vhost '${v['name']}': only '/' exists (virtual hosts are not supported yet)`);
    limitsOf(`${at}.limits`, 'vhost', DEFAULT_VHOST, v['limits']);
    return undefined;
  });
  const imported = new Set(plan.users.map((u) => u.name));
  list('permissions').forEach((p, i) => {
    const at = `permissions[${i}]`;
    if (!isObject(p)) return err(at, 'must be an object');
    const { user, vhost, configure, write, read } = p;
    if (typeof user !== 'string') return err(`${at}.user`, 'is required and must be a string');
    if (vhost !== undefined && vhost !== DEFAULT_VHOST) return err(`${at}.vhost`, `no vhost '${String(vhost)}': only '/' exists (virtual hosts are not supported yet)`);
    const source = users.get(user)?.source;
    if (!imported.has(user) && source !== 'runtime') {
      return source === undefined ? err(`${at}.user`, `no user '${user}' in the daemon or the document`) : warn(at, `'${user}' is a config or built-in user (full access to '/'); not imported`);
    }
    const set = { configure, write, read } as PermissionSet;
    const problem = Permissions.problem(set, at);
    if (problem !== null) return err(at, problem.replace(`${at}.`, ''));
    return plan.permissions.push({ user, set });
  });
  const unsupported: [keyof typeof rabbit, string][] = [
    ['topic_permissions', 'topic permissions are not supported; not imported'],
  ];
  for (const [key, why] of unsupported) list(key).forEach((_, i) => warn(`${key}[${i}]`, why));
  list('policies').forEach((p, i) => {
    const at = `policies[${i}]`;
    if (!isObject(p)) return err(at, 'must be an object');
    if (typeof p['name'] !== 'string') return err(`${at}.name`, 'is required and must be a string');
    vhostOk(at, p['vhost'] === undefined ? undefined : String(p['vhost']));
    try {
      return plan.policies.push(checkPolicy('policy', p['name'], { pattern: p['pattern'], applyTo: p['apply-to'], priority: p['priority'], definition: p['definition'] }));
    } catch (e) {
      return err(at, (e as Error).message);
    }
  });
  list('parameters').forEach((p, i) => {
    const component = isObject(p) ? String(p['component']) : '?';
    if (component === 'operator_policy' && isObject(p)) {
      // RabbitMQ keeps operator policies as runtime parameters, the definition as [key, value] pairs.
      const at = `parameters[${i}]`;
      const v = isObject(p['value']) ? p['value'] : {};
      const def = Array.isArray(v['definition']) ? Object.fromEntries((v['definition'] as unknown[]).filter(Array.isArray) as [string, unknown][]) : v['definition'];
      vhostOk(at, p['vhost'] === undefined ? undefined : String(p['vhost']));
      try {
        return plan.operatorPolicies.push(checkPolicy('operator-policy', String(p['name']), { pattern: v['pattern'], applyTo: v['apply-to'], priority: v['priority'], definition: def }));
      } catch (e) {
        return err(at, (e as Error).message);
      }
    }
    if (component === 'vhost-limits' && isObject(p) && (p['vhost'] ?? DEFAULT_VHOST) === DEFAULT_VHOST) return limitsOf(`parameters[${i}].value`, 'vhost', DEFAULT_VHOST, p['value']);
    return warn(`parameters[${i}]`, `runtime parameter of component '${component}' is not supported; not imported`);
  });
  list('global_parameters').forEach((p, i) => {
    const name = isObject(p) ? String(p['name']) : '?';
    if (!QUIET_GLOBALS.has(name)) warn(`global_parameters[${i}]`, `global parameter '${name}' is not supported; not imported`);
  });

  const exchanges = new Set<string>(broker.exchanges.keys());
  defs.exchanges.forEach((x, i) => {
    const at = `exchanges[${i}]`;
    vhostOk(at, x.vhost);
    refused(at, 'configure', 'exchange', x.name);
    if (!EXCHANGE_TYPES.has(x.type)) err(`${at}.type`, `unknown exchange type '${x.type}' (expected ${[...EXCHANGE_TYPES.keys()].join(', ')})`);
    else if (x.type === DELAYED_TYPE) {
      try {
        checkDelayedArguments(x.arguments);
      } catch (e) {
        err(`${at}.arguments.${DELAYED_TYPE_ARG}`, (e as Error).message);
      }
    }
    exchanges.add(x.name);
  });
  const queues = new Set<string>(broker.queues.keys());
  defs.queues.forEach((q, i) => {
    const at = `queues[${i}]`;
    vhostOk(at, q.vhost);
    refused(at, 'configure', 'queue', q.name);
    const argType = q.arguments['x-queue-type'];
    const type = q.type ?? (typeof argType === 'string' ? argType : 'classic');
    if (type !== 'classic' || (argType !== undefined && argType !== 'classic')) {
      err(q.type !== undefined && q.type !== 'classic' ? `${at}.type` : `${at}.arguments.x-queue-type`, `${String(q.type ?? argType)} queues are not supported (only classic)`);
    }
    // Classic is the only kind: the argument says nothing the broker needs.
    const { 'x-queue-type': _, ...args } = q.arguments;
    plan.queues.push({ ...q, arguments: args });
    queues.add(q.name);
  });
  defs.bindings.forEach((b, i) => {
    const at = `bindings[${i}]`;
    vhostOk(at, b.vhost);
    refused(at, 'write', b.destination_type, b.destination);
    refused(at, 'read', 'exchange', b.source);
    if (!exchanges.has(b.source)) err(`${at}.source`, `no exchange '${b.source}' in the broker or the document`);
    const known = b.destination_type === 'exchange' ? exchanges : queues;
    if (!known.has(b.destination)) err(`${at}.destination`, `no ${b.destination_type} '${b.destination}' in the broker or the document`);
  });
  return plan;
}

function bindingKey(source: string, destination: string, type: string, key: string, args: Record<string, unknown>): string {
  return JSON.stringify([source, destination, type, key, args]);
}

/** Declares everything or, on the first refusal, removes what it created and throws. */
function applyTopology(defs: Definitions, plan: Plan, broker: Broker, warnings: ImportProblem[]): void {
  const undo: (() => void)[] = [];
  const bound = new Set<string>([
    ...broker.bindings().map((b) => bindingKey(b.exchange, b.queue, 'queue', b.routingKey, b.arguments)),
    ...broker.exchangeBindings().map((b) => bindingKey(b.source, b.destination, 'exchange', b.routingKey, b.arguments)),
  ]);
  let at = '';
  try {
    defs.exchanges.forEach((x, i) => {
      at = `exchanges[${i}]`;
      const existed = broker.exchanges.has(x.name);
      broker.declareExchange(x.name, x.type, { durable: x.durable, autoDelete: x.auto_delete, internal: x.internal, arguments: x.arguments }, false);
      if (!existed) undo.push(() => broker.deleteExchange(x.name, false));
    });
    plan.queues.forEach((q, i) => {
      at = `queues[${i}]`;
      const existed = broker.queues.has(q.name);
      broker.declareQueue(q.name, { durable: q.durable, exclusive: false, autoDelete: q.auto_delete, arguments: q.arguments }, false, null);
      if (!existed) undo.push(() => broker.deleteQueue(q.name, false, false, null));
    });
    defs.bindings.forEach((b, i) => {
      at = `bindings[${i}]`;
      const fresh = !bound.has(bindingKey(b.source, b.destination, b.destination_type, b.routing_key, b.arguments));
      if (b.destination_type === 'exchange') {
        broker.bindExchange(b.destination, b.source, b.routing_key, b.arguments);
        if (fresh) undo.push(() => broker.unbindExchange(b.destination, b.source, b.routing_key, b.arguments));
      } else {
        broker.bind(b.destination, b.source, b.routing_key, b.arguments, null);
        if (fresh) undo.push(() => broker.unbind(b.destination, b.source, b.routing_key, null, b.arguments));
      }
    });
  } catch (e) {
    for (const u of undo.reverse()) {
      try {
        u();
      } catch {
        // Already gone with what it hung on (a binding of a removed queue).
      }
    }
    if (!(e instanceof ProtocolError)) throw e;
    throw new ImportError([{ path: at, message: `${e.replyCode} ${e.replyText}` }], warnings);
  }
}
