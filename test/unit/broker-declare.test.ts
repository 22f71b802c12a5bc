import { beforeEach, describe, expect, it } from 'vitest';
import { TestBroker, TRANSIENT, thrown } from '../helpers/broker.js';

let e: TestBroker;
beforeEach(() => {
  e = new TestBroker();
});

const PRECONDITION = 'PRECONDITION_FAILED';
const X_OPTIONS = { durable: false, autoDelete: false, internal: false, arguments: {} };

describe('exchange declare and delete (SPEC §3.3)', () => {
  it('re-declaring with the same attributes is a no-op', () => {
    e.exchange('x', 'direct', { durable: true });
    e.exchange('x', 'direct', { durable: true });
    expect(e.broker.exchanges.get('x')?.durable).toBe(true);
  });

  it.each<[string, { type?: string; durable?: boolean; autoDelete?: boolean; internal?: boolean }, string]>([
    ['type', { type: 'fanout' }, "inequivalent arg 'type' for exchange 'x' in vhost '/': received 'fanout' but current is 'direct'"],
    ['durable', { durable: true }, "inequivalent arg 'durable' for exchange 'x' in vhost '/': received 'true' but current is 'false'"],
    ['autoDelete', { autoDelete: true }, "inequivalent arg 'auto_delete' for exchange 'x' in vhost '/': received 'true' but current is 'false'"],
    ['internal', { internal: true }, "inequivalent arg 'internal' for exchange 'x' in vhost '/': received 'true' but current is 'false'"],
  ])('re-declaring with another %s is PRECONDITION_FAILED', (_attr, change, message) => {
    e.exchange('x', 'direct');
    const { type = 'direct', ...flags } = change;
    expect(thrown(() => e.exchange('x', type, flags))).toEqual({ code: PRECONDITION, message });
  });

  it('passive declare finds an existing exchange and is NOT_FOUND for a missing one', () => {
    e.exchange('x', 'fanout');
    expect(e.broker.declareExchange('x', 'direct', X_OPTIONS, true).type).toBe('fanout');
    expect(thrown(() => e.broker.declareExchange('y', 'direct', X_OPTIONS, true))).toEqual({
      code: 'NOT_FOUND',
      message: "no exchange 'y' in vhost '/'",
    });
  });

  it('an unknown type is COMMAND_INVALID (a connection error, as AMQP)', () => {
    expect(thrown(() => e.exchange('x', 'nope'))).toEqual({ code: 'COMMAND_INVALID', message: "unknown exchange type 'nope'" });
  });

  it('a reserved amq. name is ACCESS_REFUSED; the default exchange cannot be declared, deleted or bound', () => {
    expect(thrown(() => e.exchange('amq.mine', 'direct'))).toEqual({
      code: 'ACCESS_REFUSED',
      message: "exchange name 'amq.mine' contains reserved prefix 'amq.*'",
    });
    const refused = { code: 'ACCESS_REFUSED', message: 'operation not permitted on the default exchange' };
    expect(thrown(() => e.exchange('', 'direct'))).toEqual(refused);
    expect(thrown(() => e.broker.deleteExchange('', false))).toEqual(refused);
    e.queue('q');
    expect(thrown(() => e.broker.bind('q', '', 'q', {}, null))).toEqual(refused);
    expect(thrown(() => e.broker.deleteExchange('amq.fanout', false))).toEqual({
      code: 'ACCESS_REFUSED',
      message: "exchange 'amq.fanout' is built in and cannot be deleted",
    });
  });

  it('names with characters outside letters, digits and -_.: are PRECONDITION_FAILED', () => {
    expect(thrown(() => e.exchange('a b', 'direct'))).toEqual({
      code: PRECONDITION,
      message: "exchange name 'a b' may contain only letters, digits, '-', '_', '.' and ':'",
    });
    expect(thrown(() => e.queue('x'.repeat(256)))).toEqual({ code: PRECONDITION, message: 'queue name is longer than 255 bytes' });
  });

  it('exchange arguments are reserved: any key is PRECONDITION_FAILED naming it', () => {
    expect(thrown(() => e.broker.declareExchange('x', 'direct', { ...X_OPTIONS, arguments: { 'x-foo': 1 } }, false))).toEqual({
      code: PRECONDITION,
      message: "unknown exchange argument 'x-foo'",
    });
  });

  it('ifUnused delete of an exchange with bindings is PRECONDITION_FAILED; deleting a missing one succeeds', () => {
    e.exchange('x', 'direct');
    e.queue('q');
    e.broker.bind('q', 'x', 'k', {}, null);
    expect(thrown(() => e.broker.deleteExchange('x', true))).toEqual({ code: PRECONDITION, message: "exchange 'x' in use" });
    e.broker.deleteExchange('x', false);
    e.broker.deleteExchange('x', false);
    expect(e.broker.exchanges.has('x')).toBe(false);
  });

  it('an auto-delete exchange goes when its last binding is removed, by unbind or by queue deletion', () => {
    e.exchange('ad', 'fanout', { autoDelete: true });
    e.queue('a');
    e.queue('b');
    e.broker.bind('a', 'ad', '', {}, null);
    e.broker.bind('b', 'ad', '', {}, null);
    e.broker.unbind('a', 'ad', '', null);
    expect(e.broker.exchanges.has('ad')).toBe(true);
    e.broker.deleteQueue('b', false, false, null);
    expect(e.broker.exchanges.has('ad')).toBe(false);
  });

  it('an auto-delete exchange that never had a binding stays', () => {
    e.exchange('ad', 'direct', { autoDelete: true });
    expect(e.broker.exchanges.has('ad')).toBe(true);
  });
});

describe('queue declare and delete (SPEC §3.4)', () => {
  it('an empty name gets a server-generated one', () => {
    const a = e.queue('');
    const b = e.queue('');
    expect(a).toMatch(/^sk\.gen-[A-Za-z0-9_-]{22}$/);
    expect(a).not.toBe(b);
  });

  it.each<[string, Partial<typeof TRANSIENT>, string]>([
    ['durable', { durable: true }, "inequivalent arg 'durable' for queue 'q' in vhost '/': received 'true' but current is 'false'"],
    ['autoDelete', { autoDelete: true }, "inequivalent arg 'auto_delete' for queue 'q' in vhost '/': received 'true' but current is 'false'"],
  ])('re-declaring with another %s is PRECONDITION_FAILED', (_attr, change, message) => {
    e.queue('q');
    expect(thrown(() => e.queue('q', change))).toEqual({ code: PRECONDITION, message });
  });

  it('re-declaring as exclusive by its owner is PRECONDITION_FAILED', () => {
    const s = e.session();
    e.queue('q', { exclusive: true }, s);
    expect(thrown(() => e.queue('q', { exclusive: false }, s))).toEqual({
      code: PRECONDITION,
      message: "inequivalent arg 'exclusive' for queue 'q' in vhost '/': received 'false' but current is 'true'",
    });
  });

  it('passive declare reports counts and is NOT_FOUND for a missing queue', () => {
    e.queue('q');
    e.broker.publish('', 'q', Buffer.from([0, 0, 0, 0]), false, 0, 0);
    const q = e.broker.declareQueue('q', TRANSIENT, true, null);
    expect([q.messageCount, q.consumerCount]).toEqual([1, 0]);
    expect(thrown(() => e.broker.declareQueue('nope', TRANSIENT, true, null))).toEqual({
      code: 'NOT_FOUND',
      message: "no queue 'nope' in vhost '/'",
    });
  });

  it('queue arguments are reserved in 1.0: any key is PRECONDITION_FAILED naming it', () => {
    expect(thrown(() => e.broker.declareQueue('q', { ...TRANSIENT, arguments: { 'x-bogus': 1 } }, false, null))).toEqual({
      code: PRECONDITION,
      message: "unknown queue argument 'x-bogus'",
    });
  });

  it('a reserved amq. queue name is ACCESS_REFUSED', () => {
    expect(thrown(() => e.queue('amq.q'))).toEqual({
      code: 'ACCESS_REFUSED',
      message: "queue name 'amq.q' contains reserved prefix 'amq.*'",
    });
  });

  it('ifUnused with consumers and ifEmpty with ready messages are PRECONDITION_FAILED', () => {
    const { ch } = e.channel();
    e.queue('q');
    e.consume(ch, 'q');
    expect(thrown(() => e.broker.deleteQueue('q', true, false, null))).toEqual({ code: PRECONDITION, message: "queue 'q' in use" });
    e.queue('full');
    e.broker.publish('', 'full', Buffer.from([0, 0, 0, 0]), false, 0, 0);
    expect(thrown(() => e.broker.deleteQueue('full', false, true, null))).toEqual({ code: PRECONDITION, message: "queue 'full' is not empty" });
    expect(e.broker.deleteQueue('full', false, false, null)).toBe(1);
    expect(e.broker.deleteQueue('full', false, false, null)).toBe(0);
  });

  it('purge drops ready messages and returns how many', () => {
    e.queue('q');
    for (let i = 0; i < 3; i++) e.broker.publish('', 'q', Buffer.from([0, 0, 0, 0]), false, 0, 0);
    expect(e.broker.purgeQueue('q', null)).toBe(3);
    expect(e.ready('q')).toEqual([]);
    expect(e.broker.queuedBytes).toBe(0);
  });
});

describe('exclusive queues', () => {
  it('belong to one session: any use by another is RESOURCE_LOCKED', () => {
    const owner = e.session();
    const other = e.session();
    e.queue('mine', { exclusive: true }, owner);
    const locked = { code: 'RESOURCE_LOCKED', message: "cannot obtain exclusive access to locked queue 'mine' in vhost '/'" };
    expect(thrown(() => e.queue('mine', { exclusive: true }, other))).toEqual(locked);
    expect(thrown(() => e.broker.declareQueue('mine', TRANSIENT, true, other))).toEqual(locked);
    expect(thrown(() => e.broker.purgeQueue('mine', other))).toEqual(locked);
    expect(thrown(() => e.broker.deleteQueue('mine', false, false, other))).toEqual(locked);
    expect(thrown(() => e.broker.bind('mine', 'amq.direct', 'k', {}, other))).toEqual(locked);
    const { ch } = e.channel(other);
    expect(thrown(() => ch.consume('mine', '', false, false))).toEqual(locked);
    expect(thrown(() => ch.get('mine', false))).toEqual(locked);
  });

  it('are deleted with their session, with their bindings', () => {
    const owner = e.session();
    e.queue('mine', { exclusive: true }, owner);
    e.broker.bind('mine', 'amq.fanout', '', {}, owner);
    owner.close();
    expect(e.broker.queues.has('mine')).toBe(false);
    expect(e.broker.bindings()).toEqual([]);
  });
});

describe('auto-delete queues', () => {
  it('are deleted when their last consumer is cancelled, not before they had one', () => {
    e.queue('ad', { autoDelete: true });
    const { ch } = e.channel();
    const t1 = e.consume(ch, 'ad');
    const t2 = e.consume(ch, 'ad');
    ch.cancel(t1);
    expect(e.broker.queues.has('ad')).toBe(true);
    ch.cancel(t2);
    expect(e.broker.queues.has('ad')).toBe(false);
  });

  it('are deleted when the channel of their last consumer closes; its unacked messages are dropped', () => {
    e.queue('ad', { autoDelete: true });
    const { ch, sink } = e.channel();
    e.consume(ch, 'ad');
    e.broker.publish('', 'ad', Buffer.from([0, 0, 0, 0]), false, 0, 0);
    expect(sink.deliveries).toHaveLength(1);
    ch.session.closeChannel(ch.id);
    expect(e.broker.queues.has('ad')).toBe(false);
    expect(e.broker.queuedBytes).toBe(0);
  });
});
