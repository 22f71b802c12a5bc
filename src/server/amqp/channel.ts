import { AMQP_PROPERTIES_TAG, storeAmqpMessage, storedAmqpProperties } from '../../../protocol/amqp/content.js';
import { toNativePublishFlags, toNativeTable } from '../../../protocol/amqp/interop.js';
import { AmqpTyped } from '../../../protocol/amqp/values.js';
import { Method, type AmqpMethod, type BasicProperties, type BasicPublishArgs } from '../../../protocol/amqp/spec.generated.js';
import type { AmqpFrameWriter } from '../../../protocol/amqp/writer.js';
import type { ProtocolError } from '../../../protocol/index.js';
import type { Broker } from '../../broker/broker.js';
import type { Channel, ChannelSink } from '../../broker/channel.js';
import { parseConsumerArguments } from '../../broker/consumer-args.js';
import type { Message } from '../../broker/message.js';
import type { Session } from '../../broker/session.js';
import type { Limits } from '../limits.js';
import type { AccessGuard } from '../permissions.js';
import { amqpError, toAmqpError } from './errors.js';
import { Transaction, type TxOp } from './transaction.js';

/** What a channel needs of its connection. */
export interface AmqpChannelHost {
  readonly writer: AmqpFrameWriter;
  readonly broker: Broker;
  readonly user: string;
  /** RabbitMQ's permissions of the user (null: none configured, everything allowed). */
  readonly access: AccessGuard | null;
  /** Queue limits of the vhost (max-queues); absent = none. */
  readonly limits?: Limits | undefined;
  /** The client said it handles server-sent basic.cancel (`consumer_cancel_notify`). */
  readonly cancelNotify: boolean;
  /** The broker closed a channel on its own (a consumer timeout). */
  channelFailed(ch: AmqpChannel, err: ProtocolError): void;
  /** A delivery could not be written (its properties exceed this connection's frame-max). */
  deliveryFailed(err: unknown): void;
}

/**
 * One AMQP channel: the broker {@link Channel} it drives, and the {@link ChannelSink} that turns
 * the broker's deliveries, returns, confirms and cancels into frames. Every method a client may
 * send on a channel is handled here with RabbitMQ 3.x's semantics.
 */
export class AmqpChannel implements ChannelSink {
  readonly id: number;
  private readonly host: AmqpChannelHost;
  readonly channel: Channel;
  /** We sent channel.close and discard everything but close/close-ok until it is answered. */
  closing = false;
  private tx: Transaction | null = null;
  /** The last queue declared on this channel: what an empty queue name means (AMQP §1.7.2). */
  private lastQueue: string | null = null;

  constructor(host: AmqpChannelHost, session: Session, id: number) {
    this.host = host;
    this.id = id;
    this.channel = session.openChannel(id, this);
  }

  // ---- ChannelSink: broker → wire ----

  get writable(): boolean {
    return this.host.writer.writable;
  }

  deliver(consumerTag: string, deliveryTag: number, m: Message): void {
    const c = m.content;
    const n = c.readUInt32BE(0);
    try {
      if (n !== 0 && c[4] === AMQP_PROPERTIES_TAG) {
        this.host.writer.deliverStored(this.id, consumerTag, deliveryTag, m.redelivered, m.exchange, m.routingKey, c, 5, 4 + n, 4 + n);
      } else {
        this.host.writer.deliver(this.id, consumerTag, deliveryTag, m.redelivered, m.exchange, m.routingKey, propertiesOf(m), c.subarray(4 + n));
      }
    } catch (err) {
      this.host.deliveryFailed(err);
    }
  }

  returned(code: number, text: string, exchange: string, routingKey: string, content: Buffer): void {
    const [props, body] = parts(content);
    this.host.writer.content(this.id, Method.BasicReturn, { replyCode: code, replyText: text, exchange, routingKey }, props, body);
  }

  confirm(seq: number, multiple: boolean, ack: boolean): void {
    if (this.closing) return;
    if (ack) this.host.writer.ack(this.id, seq, multiple);
    else this.host.writer.nack(this.id, seq, multiple, false);
  }

  cancelled(consumerTag: string): void {
    if (this.closing || !this.host.cancelNotify) return;
    this.host.writer.method(this.id, Method.BasicCancel, { consumerTag, noWait: true });
  }

  failed(err: ProtocolError): void {
    this.host.channelFailed(this, err);
  }

  // ---- wire → broker ----

  /** A content method (basic.publish: the only one a client sends) with its header and body. */
  publish(args: BasicPublishArgs, properties: BasicProperties, raw: Buffer, body: Buffer, headroom: number): void {
    try {
      if (args.immediate) throw amqpError('NOT_IMPLEMENTED', 'immediate=true', Method.BasicPublish);
      const flags = toNativePublishFlags(properties);
      const userId = properties.userId;
      if (userId != null && userId !== this.host.user) {
        throw amqpError('PRECONDITION_FAILED', `user_id property set to '${userId}' but authenticated user was '${this.host.user}'`);
      }
      const access = this.host.access;
      access?.check('write', 'exchange', args.exchange);
      if (access?.hasTopicPermissions === true) access.checkTopic('write', args.exchange, args.routingKey, this.host.broker.exchanges.get(args.exchange)?.type);
      const content = storeAmqpMessage(raw, body, headroom);
      if (this.tx !== null) {
        if (!this.host.broker.exchanges.has(args.exchange)) throw amqpError('NOT_FOUND', `no exchange '${args.exchange}' in vhost '${this.host.broker.vhost}'`);
        this.tx.ops.push({ kind: 'publish', exchange: args.exchange, routingKey: args.routingKey, mandatory: args.mandatory, ...flags, content });
        return;
      }
      this.channel.publish(args.exchange, args.routingKey, args.mandatory, flags.persistent, flags.priority, flags.expiration, content);
    } catch (err) {
      throw toAmqpError(err, Method.BasicPublish);
    }
  }

  /** Any other method on this channel. Errors are thrown as AmqpErrors naming the method. */
  handle(m: AmqpMethod): void {
    try {
      this.dispatch(m);
    } catch (err) {
      throw toAmqpError(err, m.id);
    }
  }

  private dispatch(m: AmqpMethod): void {
    const w = this.host.writer;
    const broker = this.host.broker;
    // RabbitMQ's permissions, as the native front end checks them (null: none configured).
    const access = this.host.access;
    const c = this.channel;
    const session = c.session;
    const id = this.id;
    switch (m.id) {
      case Method.BasicAck:
        if (this.tx !== null) this.tx.ops.push({ kind: 'ack', tag: m.deliveryTag, multiple: m.multiple });
        else c.ack(m.deliveryTag, m.multiple);
        return;
      case Method.BasicNack:
        if (this.tx !== null) this.tx.ops.push({ kind: 'nack', tag: m.deliveryTag, multiple: m.multiple, requeue: m.requeue });
        else c.nack(m.deliveryTag, m.multiple, m.requeue);
        return;
      case Method.BasicReject:
        if (this.tx !== null) this.tx.ops.push({ kind: 'reject', tag: m.deliveryTag, requeue: m.requeue });
        else c.reject(m.deliveryTag, m.requeue);
        return;
      case Method.BasicQos:
        if (m.prefetchSize !== 0) throw amqpError('NOT_IMPLEMENTED', `prefetch_size!=0 (${m.prefetchSize})`);
        c.qos(m.prefetchCount, m.global);
        w.method(id, Method.BasicQosOk, {});
        return;
      case Method.BasicConsume: {
        const queue = this.queueName(m.queue);
        access?.check('read', 'queue', queue);
        const args = consumerArguments(m.arguments);
        const { priority } = parseConsumerArguments(queue, args, false, broker.vhost);
        const tag = c.consume(queue, m.consumerTag, m.noAck, m.exclusive, priority, args);
        if (!m.noWait) w.method(id, Method.BasicConsumeOk, { consumerTag: tag });
        c.start(tag);
        return;
      }
      case Method.BasicCancel:
        c.cancel(m.consumerTag);
        if (!m.noWait) w.method(id, Method.BasicCancelOk, { consumerTag: m.consumerTag });
        return;
      case Method.BasicCancelOk:
        return; // the answer to a server-sent cancel
      case Method.BasicGet: {
        access?.check('read', 'queue', this.queueName(m.queue));
        const r = c.get(this.queueName(m.queue), m.noAck);
        if (r === null) {
          w.method(id, Method.BasicGetEmpty, {});
          return;
        }
        const msg = r.message;
        const [props, body] = parts(msg.content, msg);
        w.content(
          id,
          Method.BasicGetOk,
          { deliveryTag: r.deliveryTag, redelivered: msg.redelivered, exchange: msg.exchange, routingKey: msg.routingKey, messageCount: r.messageCount },
          props,
          body,
        );
        return;
      }
      case Method.BasicRecoverAsync:
      case Method.BasicRecover:
        if (!m.requeue) throw amqpError('NOT_IMPLEMENTED', 'requeue=false');
        // Every unacked delivery goes back to its queue, marked redelivered (RabbitMQ's recover).
        c.nack(0, true, true);
        if (m.id === Method.BasicRecover) w.method(id, Method.BasicRecoverOk, {});
        return;
      case Method.ExchangeDeclare:
        if (!m.passive) access?.check('configure', 'exchange', m.exchange);
        broker.declareExchange(
          m.exchange,
          m.type,
          { durable: m.durable, autoDelete: m.autoDelete, internal: m.internal, arguments: toNativeTable(m.arguments) },
          m.passive,
        );
        if (!m.noWait) w.method(id, Method.ExchangeDeclareOk, {});
        return;
      case Method.ExchangeDelete:
        access?.check('configure', 'exchange', m.exchange);
        broker.deleteExchange(m.exchange, m.ifUnused);
        if (!m.noWait) w.method(id, Method.ExchangeDeleteOk, {});
        return;
      case Method.ExchangeBind:
        access?.check('write', 'exchange', m.destination);
        access?.check('read', 'exchange', m.source);
        broker.bindExchange(m.destination, m.source, m.routingKey, toNativeTable(m.arguments));
        if (!m.noWait) w.method(id, Method.ExchangeBindOk, {});
        return;
      case Method.ExchangeUnbind:
        access?.check('write', 'exchange', m.destination);
        access?.check('read', 'exchange', m.source);
        broker.unbindExchange(m.destination, m.source, m.routingKey, toNativeTable(m.arguments));
        if (!m.noWait) w.method(id, Method.ExchangeUnbindOk, {});
        return;
      case Method.QueueDeclare: {
        if (!m.passive) access?.check('configure', 'queue', m.queue === '' ? 'amq.gen-' : m.queue);
        if (!m.passive && !broker.queues.has(m.queue)) this.host.limits?.checkQueue(broker.vhost, m.queue, broker.queues.size);
        const q = broker.declareQueue(
          m.passive ? this.queueName(m.queue) : m.queue,
          { durable: m.durable, exclusive: m.exclusive, autoDelete: m.autoDelete, arguments: toNativeTable(m.arguments) },
          m.passive,
          session,
        );
        this.lastQueue = q.name;
        if (!m.noWait) w.method(id, Method.QueueDeclareOk, { queue: q.name, messageCount: q.messageCount, consumerCount: q.consumerCount });
        return;
      }
      case Method.QueueBind:
        access?.check('write', 'queue', this.queueName(m.queue));
        access?.check('read', 'exchange', m.exchange);
        if (access?.hasTopicPermissions === true) access.checkTopic('read', m.exchange, this.bindingKey(m.queue, m.routingKey), broker.exchanges.get(m.exchange)?.type);
        broker.bind(this.queueName(m.queue), m.exchange, this.bindingKey(m.queue, m.routingKey), toNativeTable(m.arguments), session);
        if (!m.noWait) w.method(id, Method.QueueBindOk, {});
        return;
      case Method.QueueUnbind:
        access?.check('write', 'queue', this.queueName(m.queue));
        access?.check('read', 'exchange', m.exchange);
        broker.unbind(this.queueName(m.queue), m.exchange, this.bindingKey(m.queue, m.routingKey), session, toNativeTable(m.arguments));
        w.method(id, Method.QueueUnbindOk, {});
        return;
      case Method.QueuePurge: {
        access?.check('read', 'queue', this.queueName(m.queue));
        const n = broker.purgeQueue(this.queueName(m.queue), session);
        if (!m.noWait) w.method(id, Method.QueuePurgeOk, { messageCount: n });
        return;
      }
      case Method.QueueDelete: {
        const name = this.queueName(m.queue);
        access?.check('configure', 'queue', name);
        const q = broker.queues.get(name);
        // RabbitMQ's words, which name the vhost (checked here, before the broker's own check).
        if (q !== undefined && q.owner === null) {
          if (m.ifUnused && q.consumerCount !== 0) throw amqpError('PRECONDITION_FAILED', `queue '${name}' in vhost '${broker.vhost}' in use`);
          if (m.ifEmpty && q.messageCount !== 0) throw amqpError('PRECONDITION_FAILED', `queue '${name}' in vhost '${broker.vhost}' is not empty`);
        }
        const n = broker.deleteQueue(name, m.ifUnused, m.ifEmpty, session);
        if (!m.noWait) w.method(id, Method.QueueDeleteOk, { messageCount: n });
        return;
      }
      case Method.ConfirmSelect:
        if (this.tx !== null) throw amqpError('PRECONDITION_FAILED', 'cannot switch from tx to confirm mode');
        c.confirmSelect();
        if (!m.noWait) w.method(id, Method.ConfirmSelectOk, {});
        return;
      case Method.TxSelect:
        if (c.confirms !== null) throw amqpError('PRECONDITION_FAILED', 'cannot switch from confirm to tx mode');
        this.tx ??= new Transaction();
        w.method(id, Method.TxSelectOk, {});
        return;
      case Method.TxCommit:
        this.commit();
        return;
      case Method.TxRollback:
        if (this.tx === null) throw amqpError('PRECONDITION_FAILED', 'channel is not transactional');
        this.tx.take();
        w.method(id, Method.TxRollbackOk, {});
        return;
      case Method.ChannelFlow:
        // RabbitMQ 3.x refuses to stop deliveries this way (prefetch does it better).
        if (!m.active) throw amqpError('NOT_IMPLEMENTED', 'active=false');
        w.method(id, Method.ChannelFlowOk, { active: true });
        return;
      case Method.ChannelFlowOk:
        return;
      default:
        throw amqpError('COMMAND_INVALID', 'unimplemented method');
    }
  }

  /** Applies what the transaction holds, in order; commit-ok waits for persistent messages to be stored. */
  private commit(): void {
    if (this.tx === null) throw amqpError('PRECONDITION_FAILED', 'channel is not transactional');
    const c = this.channel;
    let persistent = false;
    for (const op of this.tx.take()) persistent = apply(c, op) || persistent;
    const done = (): void => {
      if (!this.closing && !c.closed) this.host.writer.method(this.id, Method.TxCommitOk, {});
    };
    if (persistent) this.host.broker.persistence.afterCommit(done);
    else done();
  }

  /** An empty queue name means the channel's last declared queue (RabbitMQ's rule). */
  private queueName(name: string): string {
    if (name !== '') return name;
    if (this.lastQueue === null) throw amqpError('NOT_FOUND', 'no previously declared queue');
    return this.lastQueue;
  }

  /** An empty queue name with an empty routing key binds with the last queue's name as key. */
  private bindingKey(queue: string, routingKey: string): string {
    return queue === '' && routingKey === '' && this.lastQueue !== null ? this.lastQueue : routingKey;
  }
}

function apply(c: Channel, op: TxOp): boolean {
  switch (op.kind) {
    case 'publish':
      c.publish(op.exchange, op.routingKey, op.mandatory, op.persistent, op.priority, op.expiration, op.content);
      return op.persistent;
    case 'ack':
      c.ack(op.tag, op.multiple);
      return false;
    case 'nack':
      c.nack(op.tag, op.multiple, op.requeue);
      return false;
    case 'reject':
      c.reject(op.tag, op.requeue);
      return false;
  }
}

/** AMQP properties of a message stored in the native form, from its map and publish flags. */
function propertiesOf(m: Message): BasicProperties {
  return storedAmqpProperties(m.content, { persistent: m.persistent, priority: m.priority, expiration: m.expiration });
}

/** A stored message's properties (raw when stored from AMQP) and body, for return and get-ok. */
function parts(content: Buffer, m?: Message): [BasicProperties | Buffer, Buffer] {
  const n = content.readUInt32BE(0);
  const body = content.subarray(4 + n);
  if (n !== 0 && content[4] === AMQP_PROPERTIES_TAG) return [content.subarray(5, 4 + n), body];
  return [storedAmqpProperties(content, m === undefined ? {} : { persistent: m.persistent, priority: m.priority, expiration: m.expiration }), body];
}

/**
 * Consumer arguments as native values, except that an AMQP timestamp given as `x-stream-offset`
 * stays a Date: a stream tells a timestamp from a numeric offset by it (SPEC §3.4.5).
 */
function consumerArguments(t: Parameters<typeof toNativeTable>[0]): Record<string, unknown> {
  const args = toNativeTable(t);
  const offset = t['x-stream-offset'];
  if (offset instanceof Date) args['x-stream-offset'] = offset;
  else if (offset instanceof AmqpTyped && offset.type === 'T') args['x-stream-offset'] = new Date(Number(offset.value) * 1000);
  return args;
}
