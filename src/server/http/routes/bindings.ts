import type { FastifyInstance } from 'fastify';
import type { Broker } from '../../../broker/broker.js';
import { accessOf, vhostBroker, vhostsOf, type ApiContext } from '../api-context.js';
import { notFound } from '../errors.js';
import { parseListParams, sendListing } from '../listing.js';
import { bindingJson, propertiesKey, type BindingView } from '../shapes.js';
import { exchangeName } from './exchanges.js';

/**
 * Every binding of a broker, as RabbitMQ lists them: the default exchange's implicit binding of
 * each queue first, then each exchange's to queues and to exchanges.
 */
export function bindingsOf(broker: Broker): BindingView[] {
  const out: BindingView[] = [];
  for (const q of broker.queues.values()) out.push({ source: '', destination: q.name, destination_type: 'queue', routing_key: q.name, arguments: {} });
  for (const x of broker.exchanges.values()) {
    for (const b of x.bindings()) out.push({ source: b.exchange, destination: b.queue, destination_type: 'queue', routing_key: b.routingKey, arguments: b.arguments });
    for (const b of x.exchangeBindings()) out.push({ source: b.source, destination: b.destination, destination_type: 'exchange', routing_key: b.routingKey, arguments: b.arguments });
  }
  return out;
}

const BINDING_BODY = {
  type: 'object',
  properties: { routing_key: { type: 'string' }, arguments: { type: 'object' } },
} as const;

interface PairParams {
  vhost: string;
  source: string;
  destination: string;
}

const KINDS = { q: 'queue', e: 'exchange' } as const;

/** Bindings: listing (admin); creating and deleting, which `queue.bind`/`exchange.bind` allow anyone. */
export function bindingRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const send = (items: BindingView[], vhost: string, query: unknown, reply: Parameters<typeof sendListing>[0]) =>
    sendListing(
      reply,
      { items, name: (b) => `${b.source}\0${b.destination}`, vhost: () => vhost, row: (b) => bindingJson(b, vhost) },
      parseListParams(query as Record<string, unknown>),
    );

  app.get('/api/bindings', (req, reply) => {
    const all = vhostsOf(ctx, undefined).flatMap((v) => bindingsOf(v.broker).map((b) => ({ b, vhost: v.name })));
    return sendListing(
      reply,
      { items: all, name: (i) => `${i.b.source}\0${i.b.destination}`, vhost: (i) => i.vhost, row: (i) => bindingJson(i.b, i.vhost) },
      parseListParams(req.query as Record<string, unknown>),
    );
  });
  app.get<{ Params: { vhost: string } }>('/api/bindings/:vhost', (req, reply) => send(bindingsOf(vhostBroker(ctx, req.params.vhost)), req.params.vhost, req.query, reply));

  for (const [letter, kind] of Object.entries(KINDS)) {
    const base = `/api/bindings/:vhost/e/:source/${letter}/:destination`;
    /** The bindings between the two (both must exist), as the path names them. */
    const between = (p: PairParams): { broker: Broker; source: string; items: BindingView[] } => {
      const broker = vhostBroker(ctx, p.vhost);
      const source = exchangeName(p.source);
      const destination = kind === 'exchange' ? exchangeName(p.destination) : p.destination;
      if (!broker.exchanges.has(source)) throw notFound(`no exchange '${source}' in vhost '${p.vhost}'`);
      if (kind === 'queue' ? !broker.queues.has(destination) : !broker.exchanges.has(destination)) throw notFound(`no ${kind} '${destination}' in vhost '${p.vhost}'`);
      const items = bindingsOf(broker).filter((b) => b.source === source && b.destination === destination && b.destination_type === kind);
      return { broker, source, items };
    };
    const one = (p: PairParams & { props: string }): { broker: Broker; binding: BindingView } => {
      const { broker, items } = between(p);
      // The key is URL-encoded already; the router hands the parameter over decoded.
      const wanted = encodeURIComponent(p.props);
      const binding = items.find((b) => propertiesKey(b.routing_key, b.arguments) === wanted);
      if (binding === undefined) throw notFound(`no binding '${p.props}' from '${exchangeName(p.source)}' to ${kind} '${p.destination}'`);
      return { broker, binding };
    };

    app.get<{ Params: PairParams }>(base, (req, reply) => send(between(req.params).items, req.params.vhost, req.query, reply));
    app.post<{ Params: PairParams; Body: { routing_key?: string; arguments?: Record<string, unknown> } }>(
      base,
      { config: { access: 'user' }, schema: { body: BINDING_BODY } },
      (req, reply) => {
        const { broker, source } = between(req.params);
        const access = accessOf(ctx, req.principal, req.params.vhost);
        access.check('write', kind, kind === 'queue' ? req.params.destination : exchangeName(req.params.destination));
        access.check('read', 'exchange', source);
        const key = req.body.routing_key ?? '';
        const args = req.body.arguments ?? {};
        if (kind === 'queue') access.checkTopic('read', source, key, broker.exchanges.get(source)?.type);
        if (kind === 'queue') broker.bind(req.params.destination, source, key, args, null);
        else broker.bindExchange(exchangeName(req.params.destination), source, key, args);
        const path = (req.raw.url ?? '').split('?')[0] ?? '';
        return reply.code(201).header('location', `${path}/${propertiesKey(key, args)}`).send();
      },
    );
    app.get<{ Params: PairParams & { props: string } }>(`${base}/:props`, { config: { access: 'user' } }, (req) => bindingJson(one(req.params).binding, req.params.vhost));
    app.delete<{ Params: PairParams & { props: string } }>(`${base}/:props`, { config: { access: 'user' } }, (req, reply) => {
      const { broker, binding: b } = one(req.params);
      const access = accessOf(ctx, req.principal, req.params.vhost);
      access.check('write', kind, b.destination);
      access.check('read', 'exchange', b.source);
      if (kind === 'queue') broker.unbind(b.destination, b.source, b.routing_key, null, b.arguments);
      else broker.unbindExchange(b.destination, b.source, b.routing_key, b.arguments);
      return reply.code(204).send();
    });
  }
}
