import { DELAYED_TYPE, DELAYED_TYPE_ARG, checkDelayedArguments } from '../broker/exchange/delayed.js';
import { ProtocolError, type Definitions, type QueueDefinition } from '../../protocol/index.js';
import type { Broker } from '../broker/broker.js';
import { EXCHANGE_TYPES } from '../broker/exchange/types.js';
import type { VirtualHosts } from '../broker/vhosts.js';
import { VhostDirectory } from './vhosts.js';
import { parseUserChange } from './user-change.js';
import { Limits } from './limits.js';
import { checkPolicy, type PolicySpec } from '../broker/policy.js';
import type { Policies } from './policies.js';
import { Permissions, type AccessGuard, type PermissionSet, type TopicPermissionSet } from './permissions.js';
import { UserDirectory, type UserChange } from './users.js';

/** One finding of an import, by where it is in the document: `queues[2].type`. */
export interface ImportProblem {
  path: string;
  message: string;
}

export interface ImportResult {
  users: number;
  vhosts: number;
  permissions: number;
  topicPermissions: number;
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

/** Where an import lands: the daemon's vhosts, and the directory that makes new ones durable. */
export interface ImportTarget {
  vhosts: Pick<VirtualHosts, 'has' | 'get' | 'add' | 'delete'>;
  directory: VhostDirectory | null;
  /** Entries that name no vhost go here (the `{vhost}` of `POST /api/definitions/{vhost}`, else `/`). */
  vhost: string;
  /** True when the import names the vhost in its path: every entry must be of that vhost. */
  pinned: boolean;
  /** What the importing user may do in a vhost that exists already (new ones are the importer's, an administrator's). */
  access(vhost: string): AccessGuard;
}
/** Informational global parameters every RabbitMQ export carries. */
const QUIET_GLOBALS = new Set(['cluster_name', 'internal_cluster_id']);

interface Plan {
  users: { name: string; change: UserChange }[];
  /** Vhosts the document makes or describes, and which of them are new. */
  vhosts: { name: string; description: unknown; tags: unknown; defaultQueueType: unknown; fresh: boolean }[];
  limits: { scope: 'user' | 'vhost'; key: string; name: string; value: number }[];
  permissions: { user: string; vhost: string; set: PermissionSet }[];
  topicPermissions: { user: string; vhost: string; set: TopicPermissionSet }[];
  /** Exchanges, queues (classic argument dropped) and bindings, each with its vhost. */
  exchanges: { vhost: string; x: Definitions['exchanges'][number] }[];
  queues: { vhost: string; q: QueueDefinition }[];
  bindings: { vhost: string; b: Definitions['bindings'][number] }[];
  policies: { vhost: string; spec: PolicySpec }[];
  operatorPolicies: { vhost: string; spec: PolicySpec }[];
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
  target: ImportTarget,
  users: UserDirectory,
  permissions: Permissions,
  limits: Limits,
  policies: Policies,
): Promise<ImportResult> {
  const errors: ImportProblem[] = [];
  const warnings: ImportProblem[] = [];
  const plan = check(defs, target, users, errors, warnings);
  if (errors.length !== 0) throw new ImportError(errors, warnings);
  applyTopology(plan, target.vhosts, warnings);
  for (const v of plan.vhosts) await target.directory?.put(v.name, { description: v.description, tags: v.tags, defaultQueueType: v.defaultQueueType });
  for (const u of plan.users) await users.put(u.name, u.change);
  for (const p of plan.permissions) await permissions.set(p.user, p.vhost, p.set);
  for (const p of plan.topicPermissions) await permissions.setTopic(p.user, p.vhost, p.set);
  for (const l of plan.limits) await limits.set(l.scope, l.key, l.name, l.value);
  for (const p of plan.policies) await policies.set('policy', p.spec.name, p.spec, p.vhost);
  for (const p of plan.operatorPolicies) await policies.set('operator-policy', p.spec.name, p.spec, p.vhost);
  return {
    users: plan.users.length,
    vhosts: plan.vhosts.filter((v) => v.fresh).length,
    permissions: plan.permissions.length,
    topicPermissions: plan.topicPermissions.length,
    policies: plan.policies.length + plan.operatorPolicies.length,
    exchanges: defs.exchanges.length,
    queues: defs.queues.length,
    bindings: defs.bindings.length,
    warnings,
  };
}

function check(defs: Definitions, target: ImportTarget, users: UserDirectory, errors: ImportProblem[], warnings: ImportProblem[]): Plan {
  const err = (path: string, message: string): number => errors.push({ path, message });
  const warn = (path: string, message: string): number => warnings.push({ path, message });
  const rabbit = defs.rabbit ?? {};
  /** Vhosts the document makes (filled from its `vhosts` section before anything names one). */
  const made = new Set<string>();
  /**
   * The vhost an entry lands in, or null (an error is recorded) when it names one that neither
   * the daemon nor the document has, or another than the one the import is pinned to.
   */
  const vhostOf = (path: string, named: unknown): string | null => {
    const v = named === undefined ? target.vhost : String(named);
    if (target.pinned && v !== target.vhost) {
      err(`${path}.vhost`, `'${v}' is not the vhost this import is for ('${target.vhost}'); POST to /api/definitions to import several vhosts`);
      return null;
    }
    if (!target.vhosts.has(v) && !made.has(v)) {
      err(`${path}.vhost`, `no vhost '${v}' in the daemon or the document`);
      return null;
    }
    return v;
  };
  const guards = new Map<string, AccessGuard | null>();
  /** New vhosts are the importer's (an administrator: only they may make vhosts). */
  const guardOf = (vhost: string): AccessGuard | null => {
    if (!guards.has(vhost)) guards.set(vhost, made.has(vhost) && !target.vhosts.has(vhost) ? null : target.access(vhost));
    return guards.get(vhost) as AccessGuard | null;
  };
  const list = (key: keyof typeof rabbit): unknown[] => {
    const v = rabbit[key];
    if (v === undefined) return [];
    if (!Array.isArray(v)) {
      err(key, `must be an array, got ${v === null ? 'null' : typeof v}`);
      return [];
    }
    return v;
  };

  const plan: Plan = { users: [], vhosts: [], limits: [], permissions: [], topicPermissions: [], exchanges: [], queues: [], bindings: [], policies: [], operatorPolicies: [] };
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
  const refused = (path: string, vhost: string, op: 'configure' | 'write' | 'read', resource: 'queue' | 'exchange', name: string): void => {
    const access = guardOf(vhost);
    if (access !== null && !access.allows(op, name)) err(path, `${op} access to ${resource} '${name === '' ? 'amq.default' : name}' in vhost '${vhost}' refused for user '${access.user}'`);
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
    const name = v['name'];
    if (target.pinned && name !== target.vhost) return err(`${at}.name`, `'${name}' is not the vhost this import is for ('${target.vhost}'); POST to /api/definitions to import several vhosts`);
    const meta = isObject(v['metadata']) ? v['metadata'] : {};
    const fields = { description: v['description'] ?? meta['description'], tags: v['tags'] ?? meta['tags'], defaultQueueType: v['default_queue_type'] ?? meta['default_queue_type'] };
    const problem = VhostDirectory.problem(name, fields, at);
    if (problem !== null) return err(problem.slice(0, problem.indexOf(':')), problem.slice(problem.indexOf(':') + 2));
    const fresh = !target.vhosts.has(name);
    if (fresh && target.directory === null) return err(at, `vhost '${name}': this daemon cannot make vhosts`);
    made.add(name);
    plan.vhosts.push({ name, ...fields, fresh });
    limitsOf(`${at}.limits`, 'vhost', name, v['limits']);
    return undefined;
  });
  const imported = new Set(plan.users.map((u) => u.name));
  list('permissions').forEach((p, i) => {
    const at = `permissions[${i}]`;
    if (!isObject(p)) return err(at, 'must be an object');
    const { user, vhost: named, configure, write, read } = p;
    if (typeof user !== 'string') return err(`${at}.user`, 'is required and must be a string');
    const vhost = vhostOf(at, named);
    if (vhost === null) return undefined;
    const source = users.get(user)?.source;
    if (!imported.has(user) && source !== 'runtime') {
      if (source === undefined) return err(`${at}.user`, `no user '${user}' in the daemon or the document`);
      if (vhost === DEFAULT_VHOST) return warn(at, `'${user}' is a config or built-in user (full access to '/'); not imported`);
    }
    const set = { configure, write, read } as PermissionSet;
    const problem = Permissions.problem(set, at);
    if (problem !== null) return err(at, problem.replace(`${at}.`, ''));
    return plan.permissions.push({ user, vhost, set });
  });
  list('topic_permissions').forEach((p, i) => {
    const at = `topic_permissions[${i}]`;
    if (!isObject(p)) return err(at, 'must be an object');
    const { user, vhost: named, exchange, write, read } = p;
    if (typeof user !== 'string') return err(`${at}.user`, 'is required and must be a string');
    const vhost = vhostOf(at, named);
    if (vhost === null) return undefined;
    if (!imported.has(user) && users.get(user) === undefined) return err(`${at}.user`, `no user '${user}' in the daemon or the document`);
    const set = { exchange, write, read } as TopicPermissionSet;
    const problem = Permissions.topicProblem(set, at);
    if (problem !== null) return err(problem.slice(0, problem.indexOf(':')), problem.slice(problem.indexOf(':') + 2));
    return plan.topicPermissions.push({ user, vhost, set });
  });
  list('policies').forEach((p, i) => {
    const at = `policies[${i}]`;
    if (!isObject(p)) return err(at, 'must be an object');
    if (typeof p['name'] !== 'string') return err(`${at}.name`, 'is required and must be a string');
    const vhost = vhostOf(at, p['vhost']);
    if (vhost === null) return undefined;
    try {
      return plan.policies.push({ vhost, spec: checkPolicy('policy', p['name'], { pattern: p['pattern'], applyTo: p['apply-to'], priority: p['priority'], definition: p['definition'] }) });
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
      const vhost = vhostOf(at, p['vhost']);
      if (vhost === null) return undefined;
      try {
        return plan.operatorPolicies.push({ vhost, spec: checkPolicy('operator-policy', String(p['name']), { pattern: v['pattern'], applyTo: v['apply-to'], priority: v['priority'], definition: def }) });
      } catch (e) {
        return err(at, (e as Error).message);
      }
    }
    if (component === 'vhost-limits' && isObject(p)) {
      const vhost = vhostOf(`parameters[${i}]`, p['vhost']);
      return vhost === null ? undefined : limitsOf(`parameters[${i}].value`, 'vhost', vhost, p['value']);
    }
    return warn(`parameters[${i}]`, `runtime parameter of component '${component}' is not supported; not imported`);
  });
  list('global_parameters').forEach((p, i) => {
    const name = isObject(p) ? String(p['name']) : '?';
    if (!QUIET_GLOBALS.has(name)) warn(`global_parameters[${i}]`, `global parameter '${name}' is not supported; not imported`);
  });

  // Names per vhost: what the broker has plus what the document declares, for the bindings' ends.
  const known = new Map<string, { exchanges: Set<string>; queues: Set<string> }>();
  const namesOf = (vhost: string): { exchanges: Set<string>; queues: Set<string> } => {
    let k = known.get(vhost);
    if (k === undefined) {
      const b = target.vhosts.get(vhost);
      // A vhost the document makes starts with the built-in exchanges every vhost has.
      const builtIn = ['', 'amq.direct', 'amq.fanout', 'amq.topic', 'amq.headers'];
      k = { exchanges: new Set(b === undefined ? builtIn : b.exchanges.keys()), queues: new Set(b?.queues.keys() ?? []) };
      known.set(vhost, k);
    }
    return k;
  };
  defs.exchanges.forEach((x, i) => {
    const at = `exchanges[${i}]`;
    const vhost = vhostOf(at, x.vhost);
    if (vhost === null) return;
    refused(at, vhost, 'configure', 'exchange', x.name);
    if (!EXCHANGE_TYPES.has(x.type)) err(`${at}.type`, `unknown exchange type '${x.type}' (expected ${[...EXCHANGE_TYPES.keys()].join(', ')})`);
    else if (x.type === DELAYED_TYPE) {
      try {
        checkDelayedArguments(x.arguments);
      } catch (e) {
        err(`${at}.arguments.${DELAYED_TYPE_ARG}`, (e as Error).message);
      }
    }
    namesOf(vhost).exchanges.add(x.name);
    plan.exchanges.push({ vhost, x });
  });
  defs.queues.forEach((q, i) => {
    const at = `queues[${i}]`;
    const vhost = vhostOf(at, q.vhost);
    if (vhost === null) return;
    refused(at, vhost, 'configure', 'queue', q.name);
    const argType = q.arguments['x-queue-type'];
    const type = q.type ?? (typeof argType === 'string' ? argType : 'classic');
    if ((type !== 'classic' && type !== 'stream') || (argType !== undefined && argType !== type)) {
      const knownType = q.type === 'classic' || q.type === 'stream';
      err(q.type !== undefined && !knownType ? `${at}.type` : `${at}.arguments.x-queue-type`, `${String(q.type !== undefined && !knownType ? q.type : argType)} queues are not supported (only classic and stream)`);
    }
    // A stream is declared as one (x-queue-type); a classic queue needs no argument.
    const { 'x-queue-type': _, ...args } = q.arguments;
    plan.queues.push({ vhost, q: { ...q, arguments: type === 'stream' ? { ...args, 'x-queue-type': 'stream' } : args } });
    namesOf(vhost).queues.add(q.name);
  });
  defs.bindings.forEach((b, i) => {
    const at = `bindings[${i}]`;
    const vhost = vhostOf(at, b.vhost);
    if (vhost === null) return;
    refused(at, vhost, 'write', b.destination_type, b.destination);
    refused(at, vhost, 'read', 'exchange', b.source);
    const names = namesOf(vhost);
    if (!names.exchanges.has(b.source)) err(`${at}.source`, `no exchange '${b.source}' in vhost '${vhost}' of the broker or the document`);
    const set = b.destination_type === 'exchange' ? names.exchanges : names.queues;
    if (!set.has(b.destination)) err(`${at}.destination`, `no ${b.destination_type} '${b.destination}' in vhost '${vhost}' of the broker or the document`);
    plan.bindings.push({ vhost, b });
  });
  return plan;
}

function bindingKey(source: string, destination: string, type: string, key: string, args: Record<string, unknown>): string {
  return JSON.stringify([source, destination, type, key, args]);
}

/**
 * Makes the new vhosts and declares everything in one event-loop turn or, on the first refusal,
 * removes what it created (the new vhosts with it) and throws: nothing is half-applied.
 */
function applyTopology(plan: Plan, vhosts: ImportTarget['vhosts'], warnings: ImportProblem[]): void {
  const undo: (() => void)[] = [];
  const bound = new Map<Broker, Set<string>>();
  const boundOf = (broker: Broker): Set<string> => {
    let set = bound.get(broker);
    if (set === undefined) {
      set = new Set<string>([
        ...broker.bindings().map((b) => bindingKey(b.exchange, b.queue, 'queue', b.routingKey, b.arguments)),
        ...broker.exchangeBindings().map((b) => bindingKey(b.source, b.destination, 'exchange', b.routingKey, b.arguments)),
      ]);
      bound.set(broker, set);
    }
    return set;
  };
  const fresh: string[] = [];
  let at = '';
  try {
    for (const v of plan.vhosts) {
      if (!v.fresh || vhosts.has(v.name)) continue;
      vhosts.add(v.name);
      fresh.push(v.name);
    }
    const brokerOf = (vhost: string): Broker => vhosts.get(vhost) as Broker;
    plan.exchanges.forEach(({ vhost, x }, i) => {
      at = `exchanges[${i}]`;
      const broker = brokerOf(vhost);
      const existed = broker.exchanges.has(x.name);
      broker.declareExchange(x.name, x.type, { durable: x.durable, autoDelete: x.auto_delete, internal: x.internal, arguments: x.arguments }, false);
      if (!existed) undo.push(() => broker.deleteExchange(x.name, false));
    });
    plan.queues.forEach(({ vhost, q }, i) => {
      at = `queues[${i}]`;
      const broker = brokerOf(vhost);
      const existed = broker.queues.has(q.name);
      broker.declareQueue(q.name, { durable: q.durable, exclusive: false, autoDelete: q.auto_delete, arguments: q.arguments }, false, null);
      if (!existed) undo.push(() => broker.deleteQueue(q.name, false, false, null));
    });
    plan.bindings.forEach(({ vhost, b }, i) => {
      at = `bindings[${i}]`;
      const broker = brokerOf(vhost);
      const isNew = !boundOf(broker).has(bindingKey(b.source, b.destination, b.destination_type, b.routing_key, b.arguments));
      if (b.destination_type === 'exchange') {
        broker.bindExchange(b.destination, b.source, b.routing_key, b.arguments);
        if (isNew) undo.push(() => broker.unbindExchange(b.destination, b.source, b.routing_key, b.arguments));
      } else {
        broker.bind(b.destination, b.source, b.routing_key, b.arguments, null);
        if (isNew) undo.push(() => broker.unbind(b.destination, b.source, b.routing_key, null, b.arguments));
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
    for (const name of fresh) vhosts.delete(name);
    if (!(e instanceof ProtocolError)) throw e;
    throw new ImportError([{ path: at, message: `${e.replyCode} ${e.replyText}` }], warnings);
  }
}
