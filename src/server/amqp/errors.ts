import { AmqpError, type AmqpErrorScope } from '../../../protocol/amqp/errors.js';
import { ReplyCode as AmqpReplyCode, type ReplyCodeName } from '../../../protocol/amqp/spec.generated.js';
import { ProtocolError } from '../../../protocol/index.js';

const NAME_OF: ReadonlyMap<number, ReplyCodeName> = new Map(
  (Object.entries(AmqpReplyCode) as [ReplyCodeName, number][]).map(([k, v]) => [v, k]),
);

/**
 * The AMQP exception for an error from the broker or this front end, naming the method it
 * answers. The broker's errors carry AMQP's reply codes and RabbitMQ's texts already; their
 * scope (channel or connection) is the spec's hard/soft split, as RabbitMQ applies it.
 */
export function toAmqpError(err: unknown, methodId: number): AmqpError {
  if (err instanceof AmqpError) {
    if (err.classId === 0 && err.methodId === 0) {
      err.classId = methodId >>> 16;
      err.methodId = methodId & 0xffff;
    }
    return err;
  }
  if (err instanceof ProtocolError) {
    const name = NAME_OF.get(err.replyCode) ?? 'INTERNAL_ERROR';
    // The broker's settle errors name the verb; RabbitMQ's do not.
    const text = err.message.replace(/^(ack|nack|reject): (unknown delivery tag)/, '$2');
    return new AmqpError(name, text, { classId: methodId >>> 16, methodId: methodId & 0xffff });
  }
  return new AmqpError('INTERNAL_ERROR', 'the server failed handling this request; see its log', {
    classId: methodId >>> 16,
    methodId: methodId & 0xffff,
    cause: err,
  });
}

/** An error of the given code and scope for the method `methodId`. */
export function amqpError(code: ReplyCodeName, text: string, methodId = 0, scope?: AmqpErrorScope): AmqpError {
  return new AmqpError(code, text, { classId: methodId >>> 16, methodId: methodId & 0xffff, ...(scope !== undefined && { scope }) });
}
