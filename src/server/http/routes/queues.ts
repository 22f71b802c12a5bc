import type { FastifyInstance } from 'fastify';
import type { Queue } from '../../../broker/queue.js';
import { accessOf, vhostBroker, vhostsOf, type ApiContext } from '../api-context.js';
import { notFound } from '../errors.js';
import { parseListParams, sendListing } from '../listing.js';
import { bindingJson, queueJson } from '../shapes.js';
import { bindingsOf } from './bindings.js';

interface Params {
  vhost: string;
  name: string;
}

const QUEUE_BODY = {
  type: 'object',
  properties: {
    durable: { type: 'boolean' },
    auto_delete: { type: 'boolean' },
    exclusive: { type: 'boolean' },
    arguments: { type: 'object' },
    node: { type: 'string' },
  },
} as const;

interface QueueBody {
  durable?: boolean;
  auto_delete?: boolean;
  exclusive?: boolean;
  arguments?: Record<string, unknown>;
}

/**
 * Queues: list (admin); show, declare, delete and purge, which `queue.declare`/`delete`/`purge`
 * allow any user. The API has no connection of its own, so another connection's exclusive
 * queue is locked to it, as on the wire.
 */
export function queueRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const row = (q: Queue, vhost: string): Record<string, unknown> =>
    queueJson(q, vhost, ctx.host.nodeName, ctx.sampler.queue(q), q.owner === null ? undefined : ctx.host.connections.get(q.owner));
  const list = (vhost: string | undefined, query: unknown, reply: Parameters<typeof sendListing>[0]) => {
    const items = vhostsOf(ctx, vhost).flatMap((v) => [...v.broker.queues.values()].map((q) => ({ q, vhost: v.name })));
    return sendListing(reply, { items, name: (i) => i.q.name, vhost: (i) => i.vhost, row: (i) => row(i.q, i.vhost) }, parseListParams(query as Record<string, unknown>));
  };
  const find = (p: Params): Queue => {
    const q = vhostBroker(ctx, p.vhost).queues.get(p.name);
    if (q === undefined) throw notFound(`no queue '${p.name}' in vhost '${p.vhost}'`);
    return q;
  };

  app.get('/api/queues', (req, reply) => list(undefined, req.query, reply));
  app.get<{ Params: { vhost: string } }>('/api/queues/:vhost', (req, reply) => list(req.params.vhost, req.query, reply));
  app.get<{ Params: Params }>('/api/queues/:vhost/:name', { config: { access: 'user' } }, (req) => row(find(req.params), req.params.vhost));
  app.put<{ Params: Params; Body: QueueBody }>('/api/queues/:vhost/:name', { config: { access: 'user' }, schema: { body: QUEUE_BODY } }, (req, reply) => {
    const broker = vhostBroker(ctx, req.params.vhost);
    accessOf(ctx, req.principal, req.params.vhost).check('configure', 'queue', req.params.name);
    const b = req.body;
    const existed = broker.queues.has(req.params.name);
    if (!existed) ctx.host.limits.checkQueue(req.params.vhost, req.params.name, broker.queues.size);
    broker.declareQueue(
      req.params.name,
      { durable: b.durable ?? false, exclusive: b.exclusive ?? false, autoDelete: b.auto_delete ?? false, arguments: b.arguments ?? {} },
      false,
      null,
    );
    return reply.code(existed ? 204 : 201).send();
  });
  app.delete<{ Params: Params; Querystring: Record<string, string> }>('/api/queues/:vhost/:name', { config: { access: 'user' } }, (req, reply) => {
    const q = find(req.params);
    accessOf(ctx, req.principal, req.params.vhost).check('configure', 'queue', q.name);
    vhostBroker(ctx, req.params.vhost).deleteQueue(q.name, req.query['if-unused'] === 'true', req.query['if-empty'] === 'true', null);
    return reply.code(204).send();
  });
  app.delete<{ Params: Params }>('/api/queues/:vhost/:name/contents', { config: { access: 'user' } }, (req, reply) => {
    const q = find(req.params);
    accessOf(ctx, req.principal, req.params.vhost).check('read', 'queue', q.name);
    vhostBroker(ctx, req.params.vhost).purgeQueue(q.name, null);
    return reply.code(204).send();
  });
  app.get<{ Params: Params }>('/api/queues/:vhost/:name/bindings', (req, reply) => {
    const q = find(req.params);
    const items = bindingsOf(vhostBroker(ctx, req.params.vhost)).filter((b) => b.destination_type === 'queue' && b.destination === q.name);
    return sendListing(
      reply,
      { items, name: (b) => `${b.source}\0${b.routing_key}`, vhost: () => req.params.vhost, row: (b) => bindingJson(b, req.params.vhost) },
      parseListParams(req.query as Record<string, unknown>),
    );
  });
}
