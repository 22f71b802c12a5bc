import { Method, ProtocolError, ReplyCode, type ParsedMethod } from '../../../protocol/index.js';
import { AMQP_PROPERTIES_TAG } from '../../../protocol/amqp/content.js';
import { nativeContent } from '../../broker/stored-content.js';
import type { ServerChannel } from './connection.js';

/**
 * Channel-level methods (SPEC §3.3–3.6): arguments are already validated against the method
 * table, so each case reads them positionally. Broker errors propagate as ProtocolErrors and
 * close the channel (or the connection, for connection codes).
 */
export function handleChannelMethod(ch: ServerChannel, p: ParsedMethod): void {
  const a = p.args;
  const w = ch.conn.writer;
  const c = ch.channel;
  const broker = ch.conn.ctx.broker;
  const session = c.session;
  switch (p.def.id) {
    case Method.BasicPublish: {
      const content = p.content as Buffer;
      if (content[4] === AMQP_PROPERTIES_TAG && content.readUInt32BE(0) !== 0) throw reservedPropertiesTag();
      c.publish(a[0] as string, a[1] as string, a[2] as boolean, a[3] as boolean, a[4] as number, a[5] as number, content);
      return;
    }
    case Method.BasicAck:
      c.ack(a[0] as number, a[1] as boolean);
      return;
    case Method.BasicNack:
      c.nack(a[0] as number, a[1] as boolean, a[2] as boolean);
      return;
    case Method.BasicReject:
      c.reject(a[0] as number, a[1] as boolean);
      return;
    case Method.BasicQos:
      c.qos(a[0] as number, a[1] as boolean);
      w.method(ch.id, Method.BasicQosOk, []);
      return;
    case Method.BasicConsume: {
      if (Object.keys(a[4] as object).length !== 0) {
        throw new ProtocolError(ReplyCode.PRECONDITION_FAILED, `unknown consumer argument '${Object.keys(a[4] as object)[0]}'`);
      }
      const tag = c.consume(a[0] as string, a[1] as string, a[2] as boolean, a[3] as boolean);
      w.method(ch.id, Method.BasicConsumeOk, [tag]);
      c.start(tag);
      return;
    }
    case Method.BasicCancel: {
      const tag = a[0] as string;
      c.cancel(tag);
      w.method(ch.id, Method.BasicCancelOk, [tag]);
      return;
    }
    case Method.BasicCancelOk:
      return; // the client acknowledging our server-sent cancel
    case Method.BasicGet: {
      const r = c.get(a[0] as string, a[1] as boolean);
      if (r === null) w.method(ch.id, Method.BasicGetEmpty, []);
      else {
        const m = r.message;
        w.contentRaw(
          ch.id,
          Method.BasicGetOk,
          [r.deliveryTag, m.redelivered, m.exchange, m.routingKey, r.messageCount, m.persistent],
          nativeContent(m.content),
        );
      }
      return;
    }
    case Method.ExchangeDeclare:
      broker.declareExchange(
        a[0] as string,
        a[1] as string,
        { durable: a[3] as boolean, autoDelete: a[4] as boolean, internal: a[5] as boolean, arguments: a[6] as Record<string, unknown> },
        a[2] as boolean,
      );
      w.method(ch.id, Method.ExchangeDeclareOk, []);
      return;
    case Method.ExchangeDelete:
      broker.deleteExchange(a[0] as string, a[1] as boolean);
      w.method(ch.id, Method.ExchangeDeleteOk, []);
      return;
    case Method.QueueDeclare: {
      const q = broker.declareQueue(
        a[0] as string,
        { durable: a[2] as boolean, exclusive: a[3] as boolean, autoDelete: a[4] as boolean, arguments: a[5] as Record<string, unknown> },
        a[1] as boolean,
        session,
      );
      w.method(ch.id, Method.QueueDeclareOk, [q.name, q.messageCount, q.consumerCount]);
      return;
    }
    case Method.QueueBind:
      broker.bind(a[0] as string, a[1] as string, a[2] as string, a[3] as Record<string, unknown>, session);
      w.method(ch.id, Method.QueueBindOk, []);
      return;
    case Method.ExchangeBind:
      broker.bindExchange(a[0] as string, a[1] as string, a[2] as string, a[3] as Record<string, unknown>);
      w.method(ch.id, Method.ExchangeBindOk, []);
      return;
    case Method.ExchangeUnbind:
      broker.unbindExchange(a[0] as string, a[1] as string, a[2] as string, a[3] as Record<string, unknown>);
      w.method(ch.id, Method.ExchangeUnbindOk, []);
      return;
    case Method.QueueUnbind:
      broker.unbind(a[0] as string, a[1] as string, a[2] as string, session, a[3] as Record<string, unknown>);
      w.method(ch.id, Method.QueueUnbindOk, []);
      return;
    case Method.QueuePurge:
      w.method(ch.id, Method.QueuePurgeOk, [broker.purgeQueue(a[0] as string, session)]);
      return;
    case Method.QueueDelete:
      w.method(ch.id, Method.QueueDeleteOk, [broker.deleteQueue(a[0] as string, a[1] as boolean, a[2] as boolean, session)]);
      return;
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
