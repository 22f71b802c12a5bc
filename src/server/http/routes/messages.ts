import type { FastifyInstance } from 'fastify';
import type { ChannelSink, GetResult } from '../../../broker/channel.js';
import type { Session } from '../../../broker/session.js';
import { accessOf, vhostBroker, withChannel, type ApiContext } from '../api-context.js';
import { HttpError, badRequest, notFound } from '../errors.js';
import { PROPERTIES_SCHEMA, messageJson, toContent, type AmqpProperties } from '../message-json.js';
import { exchangeName } from './exchanges.js';

const PUBLISH_BODY = {
  type: 'object',
  required: ['routing_key', 'payload'],
  properties: {
    routing_key: { type: 'string' },
    payload: { type: 'string' },
    payload_encoding: { type: 'string', enum: ['string', 'base64'] },
    properties: PROPERTIES_SCHEMA,
  },
} as const;

interface PublishBody {
  routing_key: string;
  payload: string;
  payload_encoding?: 'string' | 'base64';
  properties?: AmqpProperties;
}

const ACKMODES = ['ack_requeue_true', 'ack_requeue_false', 'reject_requeue_true', 'reject_requeue_false'] as const;

const GET_BODY = {
  type: 'object',
  required: ['count', 'ackmode'],
  properties: {
    count: { type: 'integer', minimum: 1, maximum: 10_000 },
    ackmode: { type: 'string', enum: ACKMODES },
    encoding: { type: 'string', enum: ['auto', 'base64'] },
    truncate: { type: 'integer', minimum: 0 },
  },
} as const;

interface GetBody {
  count: number;
  ackmode: (typeof ACKMODES)[number];
  encoding?: 'auto' | 'base64';
  truncate?: number;
}

/** The API's channels have no consumers; a publish only hears its return and its confirm. */
class ApiSink implements ChannelSink {
  readonly writable = true;
  /** The broker sent the message back: no queue took it. */
  wasReturned = false;
  private settle: ((ack: boolean) => void) | null = null;
  readonly confirmed = new Promise<boolean>((resolve) => (this.settle = resolve));

  deliver(): void {}
  cancelled(): void {}
  returned(): void {
    this.wasReturned = true;
  }
  confirm(_seq: number, _multiple: boolean, ack: boolean): void {
    this.settle?.(ack);
  }
}

/** Publishing over HTTP and getting messages, as RabbitMQ's API: diagnostics, not a data path. */
export function messageRoutes(app: FastifyInstance, ctx: ApiContext): void {
  app.post<{ Params: { vhost: string; name: string }; Body: PublishBody }>(
    '/api/exchanges/:vhost/:name/publish',
    { config: { access: 'user' }, schema: { body: PUBLISH_BODY } },
    async (req) => {
      const broker = vhostBroker(ctx, req.params.vhost);
      const exchange = exchangeName(req.params.name);
      if (!broker.exchanges.has(exchange)) throw notFound(`no exchange '${exchange}' in vhost '${req.params.vhost}'`);
      const access = accessOf(ctx, req.principal, req.params.vhost);
      access.check('write', 'exchange', exchange);
      access.checkTopic('write', exchange, req.body.routing_key, broker.exchanges.get(exchange)?.type);
      const alarms = ctx.host.alarms();
      if (alarms.length !== 0) throw new HttpError(503, 'service_unavailable', `publishers are blocked (${alarms.join(', ')} alarm)`);
      const b = req.body;
      const body = b.payload_encoding === 'base64' ? Buffer.from(b.payload, 'base64') : Buffer.from(b.payload, 'utf8');
      const m = toContent(b.properties ?? {}, body);
      if (m.content.length > ctx.host.maxMessageBytes) {
        throw new HttpError(413, 'payload_too_large', `message of ${m.content.length} bytes is larger than the ${ctx.host.maxMessageBytes} bytes a client can be sent (frame_max)`);
      }
      const routed = await withChannel(broker, req.principal?.user ?? '', (session) => publish(ctx, session, exchange, b.routing_key, m));
      return { routed };
    },
  );

  app.post<{ Params: { vhost: string; name: string }; Body: GetBody }>(
    '/api/queues/:vhost/:name/get',
    { config: { access: 'user' }, schema: { body: GET_BODY } },
    (req) => {
      const broker = vhostBroker(ctx, req.params.vhost);
      const name = req.params.name;
      if (!broker.queues.has(name)) throw notFound(`no queue '${name}' in vhost '${req.params.vhost}'`);
      accessOf(ctx, req.principal, req.params.vhost).check('read', 'queue', name);
      const b = req.body;
      return withChannel(broker, req.principal?.user ?? '', (session) => {
        const ch = session.openChannel(1, new ApiSink());
        const got: GetResult[] = [];
        for (let i = 0; i < b.count; i++) {
          const r = ch.get(name, false);
          if (r === null) break;
          got.push(r);
        }
        // Read before settling: a requeued message would read as redelivered.
        const out = got.map((r) => messageJson(r.message, r.messageCount, b.encoding ?? 'auto', b.truncate ?? null));
        const last = got[got.length - 1];
        if (last !== undefined) {
          if (b.ackmode === 'ack_requeue_false') ch.ack(last.deliveryTag, true);
          else ch.nack(last.deliveryTag, true, b.ackmode !== 'reject_requeue_false');
        }
        return out;
      });
    },
  );
}

/**
 * One publish on a confirming channel with `mandatory`, as RabbitMQ's API does it: the reply
 * waits for the confirm (a persistent message in a durable queue: for its checkpoint) and says
 * whether any queue took the message.
 */
async function publish(
  ctx: ApiContext,
  session: Session,
  exchange: string,
  routingKey: string,
  m: ReturnType<typeof toContent>,
): Promise<boolean> {
  const sink = new ApiSink();
  const ch = session.openChannel(1, sink);
  ch.confirmSelect();
  ch.publish(exchange, routingKey, true, m.persistent, m.priority, m.expiration, m.content);
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new HttpError(503, 'service_unavailable', 'timed out waiting for the store to confirm the message')), ctx.options.requestTimeoutMs);
  });
  try {
    const ack = await Promise.race([sink.confirmed, timeout]);
    if (!ack) throw badRequest('rejected: a full queue (x-overflow reject-publish) refused the message');
  } finally {
    clearTimeout(timer);
  }
  return !sink.wasReturned;
}
