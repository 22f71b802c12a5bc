import { Method, ProtocolError, ReplyCode, argsOf, type ParsedMethod } from '../../../protocol/index.js';
import { AMQP_PROPERTIES_TAG } from '../../../protocol/amqp/content.js';
import { nativeContent } from '../../broker/stored-content.js';
import { parseConsumerArguments } from '../../broker/consumer-args.js';
import { checkConsumerName } from '../../broker/stream-args.js';
import type { ServerChannel } from './connection.js';

/**
 * Channel-level methods (SPEC §3.3–3.6): arguments are already validated against the method
 * table, and each case reads them by name with the table's types (`argsOf`). Broker errors
 * propagate as ProtocolErrors and close the channel (or the connection, for connection codes).
 */
export function handleChannelMethod(ch: ServerChannel, p: ParsedMethod): void {
  const w = ch.conn.writer;
  const c = ch.channel;
  const session = c.session;
  // The broker of the connection's vhost: every name below is looked up in it.
  const broker = session.broker;
  // RabbitMQ's permissions (null: a front end built without them, as in some tests).
  const access = ch.conn.access;
  switch (p.def.id) {
    // Publish and ack read their arguments by position, in the table's order: `argsOf` makes
    // an object per call, and these two run once per message.
    case Method.BasicPublish: {
      const a = p.args;
      const exchange = a[0] as string;
      const routingKey = a[1] as string;
      const content = p.content as Buffer;
      access?.check('write', 'exchange', exchange);
      if (access?.hasTopicPermissions === true) access.checkTopic('write', exchange, routingKey, broker.exchanges.get(exchange)?.type);
      if (content[4] === AMQP_PROPERTIES_TAG && content.readUInt32BE(0) !== 0) throw reservedPropertiesTag();
      c.publish(exchange, routingKey, a[2] as boolean, a[3] as boolean, a[4] as number, a[5] as number, content);
      return;
    }
    case Method.BasicAck:
      c.ack(p.args[0] as number, p.args[1] as boolean);
      return;
    case Method.BasicNack: {
      const a = argsOf(p, Method.BasicNack);
      c.nack(a.deliveryTag, a.multiple, a.requeue);
      return;
    }
    case Method.BasicReject: {
      const a = argsOf(p, Method.BasicReject);
      c.reject(a.deliveryTag, a.requeue);
      return;
    }
    case Method.BasicQos: {
      const a = argsOf(p, Method.BasicQos);
      c.qos(a.prefetchCount, a.global);
      w.method(ch.id, Method.BasicQosOk, []);
      return;
    }
    case Method.BasicConsume: {
      const a = argsOf(p, Method.BasicConsume);
      access?.check('read', 'queue', a.queue);
      const { priority } = parseConsumerArguments(a.queue, a.arguments, true, broker.vhost);
      const tag = c.consume(a.queue, a.consumerTag, a.noAck, a.exclusive, priority, a.arguments);
      w.method(ch.id, Method.BasicConsumeOk, [tag]);
      c.start(tag);
      return;
    }
    case Method.BasicCancel: {
      const { consumerTag } = argsOf(p, Method.BasicCancel);
      c.cancel(consumerTag);
      w.method(ch.id, Method.BasicCancelOk, [consumerTag]);
      return;
    }
    case Method.BasicCancelOk:
      return; // the client acknowledging our server-sent cancel
    case Method.BasicGet: {
      const a = argsOf(p, Method.BasicGet);
      access?.check('read', 'queue', a.queue);
      const r = c.get(a.queue, a.noAck, (m) => {
        // Measured with the two counts at their largest: they are known only once it is taken.
        const max = Number.MAX_SAFE_INTEGER;
        const bytes = nativeContent(m.content).length - 4;
        const size = w.contentFrameSize([max, m.redelivered, m.exchange, m.routingKey, max, m.persistent], 0, bytes);
        if (size <= ch.conn.frameMax) return null;
        return new ProtocolError(ReplyCode.CONTENT_TOO_LARGE, `basic.get-ok of a message of ${bytes} bytes (properties and body) does not fit in frameMax ${ch.conn.frameMax}`);
      });
      if (r === null) w.method(ch.id, Method.BasicGetEmpty, []);
      else {
        const m = r.message;
        w.contentRaw(ch.id, Method.BasicGetOk, [r.deliveryTag, m.redelivered, m.exchange, m.routingKey, r.messageCount, m.persistent], nativeContent(m.content));
      }
      return;
    }
    case Method.ExchangeDeclare: {
      const a = argsOf(p, Method.ExchangeDeclare);
      if (!a.passive) access?.check('configure', 'exchange', a.exchange);
      broker.declareExchange(a.exchange, a.type, { durable: a.durable, autoDelete: a.autoDelete, internal: a.internal, arguments: a.arguments }, a.passive);
      w.method(ch.id, Method.ExchangeDeclareOk, []);
      return;
    }
    case Method.ExchangeDelete: {
      const a = argsOf(p, Method.ExchangeDelete);
      access?.check('configure', 'exchange', a.exchange);
      broker.deleteExchange(a.exchange, a.ifUnused);
      w.method(ch.id, Method.ExchangeDeleteOk, []);
      return;
    }
    case Method.QueueDeclare: {
      const a = argsOf(p, Method.QueueDeclare);
      // A server-named queue is amq.gen-…, as RabbitMQ checks it.
      if (!a.passive) access?.check('configure', 'queue', a.queue === '' ? 'amq.gen-' : a.queue);
      if (!a.passive && !broker.queues.has(a.queue)) ch.conn.ctx.limits?.checkQueue(broker.vhost, a.queue, broker.queues.size);
      const q = broker.declareQueue(a.queue, { durable: a.durable, exclusive: a.exclusive, autoDelete: a.autoDelete, arguments: a.arguments }, a.passive, session);
      w.method(ch.id, Method.QueueDeclareOk, [q.name, q.messageCount, q.consumerCount]);
      return;
    }
    case Method.QueueBind: {
      const a = argsOf(p, Method.QueueBind);
      access?.check('write', 'queue', a.queue);
      access?.check('read', 'exchange', a.exchange);
      if (access?.hasTopicPermissions === true) access.checkTopic('read', a.exchange, a.routingKey, broker.exchanges.get(a.exchange)?.type);
      broker.bind(a.queue, a.exchange, a.routingKey, a.arguments, session);
      w.method(ch.id, Method.QueueBindOk, []);
      return;
    }
    case Method.ExchangeBind: {
      const a = argsOf(p, Method.ExchangeBind);
      access?.check('write', 'exchange', a.destination);
      access?.check('read', 'exchange', a.source);
      broker.bindExchange(a.destination, a.source, a.routingKey, a.arguments);
      w.method(ch.id, Method.ExchangeBindOk, []);
      return;
    }
    case Method.ExchangeUnbind: {
      const a = argsOf(p, Method.ExchangeUnbind);
      access?.check('write', 'exchange', a.destination);
      access?.check('read', 'exchange', a.source);
      broker.unbindExchange(a.destination, a.source, a.routingKey, a.arguments);
      w.method(ch.id, Method.ExchangeUnbindOk, []);
      return;
    }
    case Method.QueueUnbind: {
      const a = argsOf(p, Method.QueueUnbind);
      access?.check('write', 'queue', a.queue);
      access?.check('read', 'exchange', a.exchange);
      broker.unbind(a.queue, a.exchange, a.routingKey, session, a.arguments);
      w.method(ch.id, Method.QueueUnbindOk, []);
      return;
    }
    case Method.QueuePurge: {
      const { queue } = argsOf(p, Method.QueuePurge);
      access?.check('read', 'queue', queue);
      w.method(ch.id, Method.QueuePurgeOk, [broker.purgeQueue(queue, session)]);
      return;
    }
    case Method.QueueStoreOffset: {
      const a = argsOf(p, Method.QueueStoreOffset);
      access?.check('read', 'queue', a.queue);
      const stream = broker.streamForUse(a.queue, session);
      stream.storeOffset(checkConsumerName(stream.name, a.consumer, broker.vhost), a.offset);
      w.method(ch.id, Method.QueueStoreOffsetOk, []);
      return;
    }
    case Method.QueueQueryOffset: {
      const a = argsOf(p, Method.QueueQueryOffset);
      access?.check('read', 'queue', a.queue);
      const stream = broker.streamForUse(a.queue, session);
      w.method(ch.id, Method.QueueQueryOffsetOk, [stream.storedOffsets.get(checkConsumerName(stream.name, a.consumer, broker.vhost)) ?? null]);
      return;
    }
    case Method.QueueDelete: {
      const a = argsOf(p, Method.QueueDelete);
      access?.check('configure', 'queue', a.queue);
      w.method(ch.id, Method.QueueDeleteOk, [broker.deleteQueue(a.queue, a.ifUnused, a.ifEmpty, session)]);
      return;
    }
    case Method.ConfirmSelect:
      c.confirmSelect();
      w.method(ch.id, Method.ConfirmSelectOk, []);
      return;
    default:
      throw new ProtocolError(ReplyCode.COMMAND_INVALID, `${p.def.name} is not allowed on a channel`, { methodId: p.def.id });
  }
}

/** Properties starting 0xC1 are not a msgpack map; the broker keeps AMQP properties behind that byte (SPEC §3.3). */
function reservedPropertiesTag(): ProtocolError {
  return new ProtocolError(ReplyCode.PRECONDITION_FAILED, 'message properties must be a msgpack map: a first byte 0xC1 is reserved');
}
