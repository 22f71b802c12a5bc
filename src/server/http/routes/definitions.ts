import type { FastifyInstance } from 'fastify';
import { checkDefinitions, definitionsFromRows, type Definitions } from '../../../../protocol/index.js';
import type { Broker } from '../../../broker/broker.js';
import { vhostBroker, type ApiContext } from '../api-context.js';
import { HttpError } from '../errors.js';
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
 * Declares a definitions document: exchanges, then queues, then bindings, as `skiff definitions
 * import` does over a channel. Equal things already there are left alone; a conflicting one
 * stops the import with the broker's refusal (what came before stays, as RabbitMQ's does).
 */
function importInto(broker: Broker, d: Definitions): { exchanges: number; queues: number; bindings: number } {
  for (const x of d.exchanges) {
    broker.declareExchange(x.name, x.type, { durable: x.durable, autoDelete: x.auto_delete, internal: x.internal, arguments: x.arguments }, false);
  }
  for (const q of d.queues) broker.declareQueue(q.name, { durable: q.durable, exclusive: false, autoDelete: q.auto_delete, arguments: q.arguments }, false, null);
  for (const b of d.bindings) {
    if (b.destination_type === 'exchange') broker.bindExchange(b.destination, b.source, b.routing_key, b.arguments);
    else broker.bind(b.destination, b.source, b.routing_key, b.arguments, null);
  }
  return { exchanges: d.exchanges.length, queues: d.queues.length, bindings: d.bindings.length };
}

/** `/api/definitions[/{vhost}]`: export (admin) and import (anyone who may declare). */
export function definitionRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const get = (vhost: string): Definitions => exportOf(vhostBroker(ctx, vhost), ctx.host.version);
  const post = (vhost: string, body: unknown): { exchanges: number; queues: number; bindings: number } => {
    const broker = vhostBroker(ctx, vhost);
    const r = checkDefinitions(body);
    if (r.definitions === null) {
      throw new HttpError(400, 'bad_request', r.problems.length === 1 ? (r.problems[0] as string) : `${r.problems.length} problems: ${r.problems.join('; ')}`);
    }
    return importInto(broker, r.definitions);
  };
  // Administrators only, reads included, as RabbitMQ: definitions carry users and their hashes.
  const admin = { config: { access: 'admin' as const } };
  app.get('/api/definitions', admin, () => get(DEFAULT_VHOST));
  app.get<{ Params: { vhost: string } }>('/api/definitions/:vhost', admin, (req) => get(req.params.vhost));
  app.post('/api/definitions', { config: { access: 'user' } }, (req) => post(DEFAULT_VHOST, req.body));
  app.post<{ Params: { vhost: string } }>('/api/definitions/:vhost', { config: { access: 'user' } }, (req) => post(req.params.vhost, req.body));
}
