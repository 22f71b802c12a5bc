import type { FastifyInstance } from 'fastify';
import type { Exchange } from '../../../broker/exchange/exchange.js';
import { accessOf, vhostBroker, vhostsOf, type ApiContext } from '../api-context.js';
import { notFound } from '../errors.js';
import { parseListParams, sendListing } from '../listing.js';
import { bindingJson, exchangeJson } from '../shapes.js';
import { bindingsOf } from './bindings.js';

interface Params {
  vhost: string;
  name: string;
}

/** RabbitMQ names the default exchange `amq.default` in paths, since '' cannot be one. */
export function exchangeName(path: string): string {
  return path === 'amq.default' ? '' : path;
}

export const EXCHANGE_BODY = {
  type: 'object',
  required: ['type'],
  properties: {
    type: { type: 'string' },
    durable: { type: 'boolean' },
    auto_delete: { type: 'boolean' },
    internal: { type: 'boolean' },
    arguments: { type: 'object' },
  },
} as const;

interface ExchangeBody {
  type: string;
  durable?: boolean;
  auto_delete?: boolean;
  internal?: boolean;
  arguments?: Record<string, unknown>;
}

/** Exchanges: list (admin), show, declare and delete (what `exchange.declare`/`delete` allow anyone). */
export function exchangeRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const list = (vhost: string | undefined, query: unknown, reply: Parameters<typeof sendListing>[0]) => {
    const items = vhostsOf(ctx, vhost).flatMap((v) => [...v.broker.exchanges.values()].map((x) => ({ x, vhost: v.name })));
    return sendListing(
      reply,
      { items, name: (i) => i.x.name, vhost: (i) => i.vhost, row: (i) => exchangeJson(i.x, i.vhost, ctx.sampler.exchange(i.x)) },
      parseListParams(query as Record<string, unknown>),
    );
  };
  const find = (p: Params): Exchange => {
    const name = exchangeName(p.name);
    const x = vhostBroker(ctx, p.vhost).exchanges.get(name);
    if (x === undefined) throw notFound(`no exchange '${name}' in vhost '${p.vhost}'`);
    return x;
  };

  app.get('/api/exchanges', (req, reply) => list(undefined, req.query, reply));
  app.get<{ Params: { vhost: string } }>('/api/exchanges/:vhost', (req, reply) => list(req.params.vhost, req.query, reply));
  app.get<{ Params: Params }>('/api/exchanges/:vhost/:name', { config: { access: 'user' } }, (req) =>
    exchangeJson(find(req.params), req.params.vhost, ctx.sampler.exchange(find(req.params))),
  );
  app.put<{ Params: Params; Body: ExchangeBody }>('/api/exchanges/:vhost/:name', { config: { access: 'user' }, schema: { body: EXCHANGE_BODY } }, (req, reply) => {
    const broker = vhostBroker(ctx, req.params.vhost);
    const name = exchangeName(req.params.name);
    accessOf(ctx, req.principal, req.params.vhost).check('configure', 'exchange', name);
    const b = req.body;
    const existed = broker.exchanges.has(name);
    broker.declareExchange(name, b.type, { durable: b.durable ?? false, autoDelete: b.auto_delete ?? false, internal: b.internal ?? false, arguments: b.arguments ?? {} }, false);
    return reply.code(existed ? 204 : 201).send();
  });
  app.delete<{ Params: Params; Querystring: Record<string, string> }>('/api/exchanges/:vhost/:name', { config: { access: 'user' } }, (req, reply) => {
    const x = find(req.params);
    accessOf(ctx, req.principal, req.params.vhost).check('configure', 'exchange', x.name);
    vhostBroker(ctx, req.params.vhost).deleteExchange(x.name, req.query['if-unused'] === 'true');
    return reply.code(204).send();
  });

  for (const side of ['source', 'destination'] as const) {
    app.get<{ Params: Params }>(`/api/exchanges/:vhost/:name/bindings/${side}`, (req, reply) => {
      const x = find(req.params);
      const all = bindingsOf(vhostBroker(ctx, req.params.vhost));
      const items = side === 'source' ? all.filter((b) => b.source === x.name) : all.filter((b) => b.destination_type === 'exchange' && b.destination === x.name);
      return sendListing(
        reply,
        { items, name: (b) => `${b.source}\0${b.destination}\0${b.routing_key}`, vhost: () => req.params.vhost, row: (b) => bindingJson(b, req.params.vhost) },
        parseListParams(req.query as Record<string, unknown>),
      );
    });
  }
}
