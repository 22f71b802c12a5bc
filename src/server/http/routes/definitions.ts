import type { FastifyInstance, FastifyReply } from 'fastify';
import { checkDefinitions, definitionsFromRows, type Definitions } from '../../../../protocol/index.js';
import type { Broker } from '../../../broker/broker.js';
import { VirtualHosts } from '../../../broker/vhosts.js';
import type { Json } from '../shapes.js';
import { accessOf, vhostBroker, type ApiContext } from '../api-context.js';
import { ImportError, importDefinitions } from '../../definitions-import.js';
import type { Principal } from '../../auth.js';
import { mayManagePolicies, type PolicyJson } from '../../policies.js';
import { forbidden } from '../errors.js';
import { DEFAULT_VHOST } from '../host.js';

/** The topology of one broker in the shape `skiff definitions export` writes. */
export function exportOf(broker: Broker, version: string): Definitions {
  const exchanges = [...broker.exchanges.values()].map((x) => ({
    name: x.name,
    type: x.type,
    durable: x.durable,
    autoDelete: x.autoDelete,
    internal: x.internal,
    arguments: x.arguments,
  }));
  const queues = [...broker.queues.values()].map((q) => ({
    name: q.name,
    durable: q.durable,
    exclusive: q.exclusive,
    autoDelete: q.autoDelete,
    arguments: q.arguments,
  }));
  const bindings = [
    ...broker.bindings().map((b) => ({ source: b.exchange, destination: b.queue, destinationType: 'queue' as const, routingKey: b.routingKey, arguments: b.arguments })),
    ...broker.exchangeBindings().map((b) => ({ source: b.source, destination: b.destination, destinationType: 'exchange' as const, routingKey: b.routingKey, arguments: b.arguments })),
  ];
  const byName = <T extends { name: string }>(a: T, b: T): number => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  return definitionsFromRows(exchanges.sort(byName), queues.sort(byName), bindings, version);
}

/**
 * `/api/definitions[/{vhost}]`: export (admin) and import: Skiff's format or RabbitMQ's export,
 * all or nothing, every problem by path (`errors`, `warnings`); anyone who may declare, but users
 * need an administrator.
 */
export function definitionRoutes(app: FastifyInstance, ctx: ApiContext): void {
  // RabbitMQ's export of one vhost: its topology and policies, entries without a vhost field.
  const get = (vhost: string): Definitions & { policies: PolicyJson[] } => ({
    ...exportOf(vhostBroker(ctx, vhost), ctx.host.version),
    policies: ctx.host.policies.list('policy', vhost).map(({ vhost: _v, ...p }) => p as PolicyJson),
  });
  // The whole daemon's: every vhost, and every entry names its vhost, as RabbitMQ's full export.
  const getAll = (): Record<string, unknown> => {
    const out: { skiff_version: string; vhosts: Json[]; exchanges: unknown[]; queues: unknown[]; bindings: unknown[]; policies: PolicyJson[] } = {
      skiff_version: ctx.host.version,
      vhosts: [],
      exchanges: [],
      queues: [],
      bindings: [],
      policies: ctx.host.policies.list('policy'),
    };
    for (const name of ctx.host.vhostNames()) {
      const info = ctx.host.vhostDirectory?.get(name);
      const description = info?.description ?? (name === DEFAULT_VHOST ? 'Default virtual host' : '');
      const tags = [...(info?.tags ?? [])];
      out.vhosts.push({ name, description, tags, metadata: { description, tags }, default_queue_type: info?.defaultQueueType ?? 'classic' });
      const d = exportOf(vhostBroker(ctx, name), ctx.host.version);
      for (const x of d.exchanges) out.exchanges.push({ vhost: name, ...x });
      for (const q of d.queues) out.queues.push({ vhost: name, ...q });
      for (const b of d.bindings) out.bindings.push({ vhost: name, ...b });
    }
    return out;
  };
  const post = async (vhost: string, pinned: boolean, body: unknown, principal: Principal | null, reply: FastifyReply): Promise<FastifyReply> => {
    vhostBroker(ctx, vhost);
    const r = checkDefinitions(body);
    if (r.definitions === null) {
      const errors = r.problems.map((p) => ({ path: p.includes(': ') ? p.slice(0, p.indexOf(': ')) : '', message: p.includes(': ') ? p.slice(p.indexOf(': ') + 2) : p }));
      const reason = r.problems.length === 1 ? (r.problems[0] as string) : `${r.problems.length} problems: ${r.problems.join('; ')}`;
      return reply.code(400).send({ error: 'bad_request', reason, errors, warnings: [] });
    }
    const { users, permissions, topic_permissions: topics, vhosts } = r.definitions.rabbit ?? {};
    const some = (v: unknown): boolean => Array.isArray(v) && v.length !== 0;
    if ((some(users) || some(permissions) || some(topics)) && principal?.admin !== true) {
      throw forbidden(`user '${principal?.user ?? ''}' is not an administrator; importing users and permissions needs the administrator tag`);
    }
    const newVhost = Array.isArray(vhosts) && vhosts.some((v) => typeof v === 'object' && v !== null && !ctx.host.vhostNames().includes(String((v as { name?: unknown }).name)));
    if (newVhost && principal?.admin !== true) {
      throw forbidden(`user '${principal?.user ?? ''}' is not an administrator; creating vhosts needs the administrator tag`);
    }
    const { policies } = r.definitions.rabbit ?? {};
    if (Array.isArray(policies) && policies.length !== 0 && !mayManagePolicies(principal)) {
      throw forbidden(`user '${principal?.user ?? ''}' is not an administrator or policymaker; importing policies needs the administrator or policymaker tag`);
    }
    try {
      const target = {
        vhosts: ctx.host.vhostDirectory?.vhosts ?? new VirtualHosts(vhostBroker(ctx, DEFAULT_VHOST)),
        directory: ctx.host.vhostDirectory ?? null,
        vhost,
        pinned,
        access: (v: string) => accessOf(ctx, principal, v),
      };
      return await reply.send(await importDefinitions(r.definitions, target, ctx.host.userDirectory, ctx.host.permissions, ctx.host.limits, ctx.host.policies));
    } catch (err) {
      if (!(err instanceof ImportError)) throw err;
      return reply.code(400).send({ error: 'bad_request', reason: err.message, errors: err.errors, warnings: err.warnings });
    }
  };
  // Administrators only, reads included, as RabbitMQ: definitions carry users and their hashes.
  const admin = { config: { access: 'admin' as const } };
  app.get('/api/definitions', admin, () => getAll());
  app.get<{ Params: { vhost: string } }>('/api/definitions/:vhost', admin, (req) => get(req.params.vhost));
  app.post('/api/definitions', { config: { access: 'user' } }, (req, reply) => post(DEFAULT_VHOST, false, req.body, req.principal, reply));
  app.post<{ Params: { vhost: string } }>('/api/definitions/:vhost', { config: { access: 'user' } }, (req, reply) => post(req.params.vhost, true, req.body, req.principal, reply));
}
