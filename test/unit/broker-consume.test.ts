import { beforeEach, describe, expect, it } from 'vitest';
import { TestBroker, thrown } from '../helpers/broker.js';

let e: TestBroker;
beforeEach(() => {
  e = new TestBroker();
  e.queue('q');
});

function publishMany(n: number, queue = 'q', prefix = 'm'): void {
  const { ch } = e.channel();
  for (let i = 1; i <= n; i++) e.publish(ch, '', queue, `${prefix}${i}`);
}

const unacked = (): number => e.broker.stats().messagesUnacked;

describe('competing consumers (SPEC §3.5.3)', () => {
  it('are served round robin', () => {
    const sinks = [e.channel(), e.channel(), e.channel()].map(({ ch, sink }) => {
      e.consume(ch, 'q');
      return sink;
    });
    publishMany(9);
    expect(sinks.map((s) => s.bodies())).toEqual([
      ['m1', 'm4', 'm7'],
      ['m2', 'm5', 'm8'],
      ['m3', 'm6', 'm9'],
    ]);
  });

  it('skip a consumer whose prefetch window is full, and keep per-queue order', () => {
    const a = e.channel();
    const b = e.channel();
    a.ch.qos(1, false);
    e.consume(a.ch, 'q');
    e.consume(b.ch, 'q');
    publishMany(5);
    expect(a.sink.bodies()).toEqual(['m1']);
    expect(b.sink.bodies()).toEqual(['m2', 'm3', 'm4', 'm5']);
  });

  it('skip a consumer whose connection is under backpressure, which never stalls the others', () => {
    const slow = e.channel();
    const fast = e.channel();
    e.consume(slow.ch, 'q');
    e.consume(fast.ch, 'q');
    slow.sink.writable = false;
    publishMany(4);
    expect(slow.sink.bodies()).toEqual([]);
    expect(fast.sink.bodies()).toEqual(['m1', 'm2', 'm3', 'm4']);
    fast.sink.writable = false;
    publishMany(2, 'q', 'n');
    slow.sink.writable = true;
    slow.ch.redispatch(); // what the server does on 'drain'
    expect(slow.sink.bodies()).toEqual(['n1', 'n2']);
  });
});

describe('prefetch (SPEC §3.5.1)', () => {
  it('per consumer: at most N unacked each; an ack lets the next one through', () => {
    const { ch, sink } = e.channel();
    ch.qos(2, false);
    e.consume(ch, 'q');
    publishMany(5);
    expect(sink.bodies()).toEqual(['m1', 'm2']);
    ch.ack(sink.tagOf('m1'), false);
    expect(sink.bodies()).toEqual(['m1', 'm2', 'm3']);
  });

  it('per consumer applies to consumers created after basic.qos, each with its own window', () => {
    e.queue('r');
    const { ch, sink } = e.channel();
    const early = e.consume(ch, 'q');
    ch.qos(1, false);
    const late = e.consume(ch, 'r');
    const late2 = e.consume(ch, 'q');
    publishMany(4, 'q');
    publishMany(3, 'r', 'r');
    expect(sink.bodies(early).length + sink.bodies(late2).length).toBe(4);
    expect(sink.bodies(late2)).toHaveLength(1);
    expect(sink.bodies(late)).toEqual(['r1']);
  });

  it('global: at most N unacked on the channel across its consumers', () => {
    e.queue('r');
    const { ch, sink } = e.channel();
    ch.qos(3, true);
    e.consume(ch, 'q');
    e.consume(ch, 'r');
    publishMany(5, 'q');
    publishMany(5, 'r', 'r');
    expect(sink.deliveries).toHaveLength(3);
    ch.ack(0, true);
    expect(sink.deliveries).toHaveLength(6);
    expect(ch.unackedCount).toBe(3);
  });

  it('both limits apply when both are set', () => {
    const { ch, sink } = e.channel();
    ch.qos(2, false);
    ch.qos(3, true);
    const a = e.consume(ch, 'q');
    const b = e.consume(ch, 'q');
    publishMany(10);
    expect([sink.bodies(a).length, sink.bodies(b).length]).toEqual([2, 1]);
  });

  it('raising the global limit delivers at once', () => {
    const { ch, sink } = e.channel();
    ch.qos(1, true);
    e.consume(ch, 'q');
    publishMany(3);
    expect(sink.deliveries).toHaveLength(1);
    ch.qos(0, true);
    expect(sink.deliveries).toHaveLength(3);
  });

  it('does not limit noAck consumers, whose deliveries are settled when sent', () => {
    const { ch, sink } = e.channel();
    ch.qos(1, false);
    ch.qos(1, true);
    e.consume(ch, 'q', { noAck: true });
    publishMany(4);
    expect(sink.deliveries).toHaveLength(4);
    expect(unacked()).toBe(0);
    expect(e.broker.queuedBytes).toBe(0);
  });
});

describe('ack, nack, reject (SPEC §3.5.2)', () => {
  function consumeAll(n: number) {
    const c = e.channel();
    e.consume(c.ch, 'q');
    publishMany(n);
    return c;
  }

  it('delivery tags start at 1 per channel and count deliveries and gets together', () => {
    const { ch, sink } = consumeAll(2);
    e.queue('g');
    publishMany(1, 'g', 'g');
    expect(sink.deliveries.map((d) => d.deliveryTag)).toEqual([1, 2]);
    expect(ch.get('g', false)?.deliveryTag).toBe(3);
  });

  it('ack single settles one delivery for good', () => {
    const { ch, sink } = consumeAll(3);
    ch.ack(sink.tagOf('m2'), false);
    expect(unacked()).toBe(2);
    ch.session.closeChannel(ch.id);
    expect(e.ready('q')).toEqual(['m1', 'm3']);
  });

  it('ack multiple settles every tag up to the given one; tag 0 settles all', () => {
    const { ch, sink } = consumeAll(5);
    ch.ack(sink.tagOf('m3'), true);
    expect(unacked()).toBe(2);
    ch.ack(0, true);
    expect(unacked()).toBe(0);
    expect(e.broker.queuedBytes).toBe(0);
  });

  it('an unknown or already-settled tag is PRECONDITION_FAILED naming it', () => {
    const { ch, sink } = consumeAll(1);
    const tag = sink.tagOf('m1');
    expect(thrown(() => ch.ack(99, false))).toEqual({ code: 'PRECONDITION_FAILED', message: 'ack: unknown delivery tag 99' });
    ch.ack(tag, false);
    expect(thrown(() => ch.ack(tag, false))).toEqual({ code: 'PRECONDITION_FAILED', message: `ack: unknown delivery tag ${tag}` });
    expect(thrown(() => ch.nack(tag, true, true))).toEqual({ code: 'PRECONDITION_FAILED', message: `nack: unknown delivery tag ${tag}` });
    expect(thrown(() => ch.reject(7, false))).toEqual({ code: 'PRECONDITION_FAILED', message: 'reject: unknown delivery tag 7' });
  });

  it('multiple with tag 0 and nothing unacked is not an error', () => {
    const { ch } = e.channel();
    ch.ack(0, true);
    ch.nack(0, true, true);
  });

  it('nack and reject without requeue drop the message', () => {
    const { ch, sink } = consumeAll(2);
    ch.nack(sink.tagOf('m1'), false, false);
    ch.reject(sink.tagOf('m2'), false);
    expect(unacked()).toBe(0);
    expect(e.ready('q')).toEqual([]);
    expect(e.broker.queuedBytes).toBe(0);
  });

  it('nack and reject with requeue redeliver with redelivered = true', () => {
    const a = e.channel();
    e.consume(a.ch, 'q');
    publishMany(2);
    a.ch.cancel(a.ch.consumers.keys().next().value as string);
    a.ch.reject(a.sink.tagOf('m1'), true);
    a.ch.nack(a.sink.tagOf('m2'), false, true);
    expect(e.ready('q')).toEqual(['m1', 'm2']);
    const b = e.channel();
    e.consume(b.ch, 'q');
    expect(b.sink.deliveries.map((d) => [d.body, d.redelivered])).toEqual([
      ['m1', true],
      ['m2', true],
    ]);
  });

  it('nack multiple with requeue puts them back in their original order, ahead of newer messages', () => {
    const a = e.channel();
    a.ch.qos(4, false);
    const tag = e.consume(a.ch, 'q');
    publishMany(6);
    a.ch.cancel(tag);
    a.ch.nack(a.sink.tagOf('m3'), true, true);
    expect(e.ready('q')).toEqual(['m1', 'm2', 'm3', 'm5', 'm6']);
    a.ch.nack(0, true, true);
    expect(e.ready('q')).toEqual(['m1', 'm2', 'm3', 'm4', 'm5', 'm6']);
  });

  it('messages requeued one by one out of order still go back in publish order', () => {
    const { ch } = e.channel();
    publishMany(3);
    const g1 = ch.get('q', false);
    const g2 = ch.get('q', false);
    ch.nack(g1?.deliveryTag as number, false, true);
    ch.nack(g2?.deliveryTag as number, false, true);
    expect(e.ready('q')).toEqual(['m1', 'm2', 'm3']);
    const h1 = ch.get('q', false);
    const h2 = ch.get('q', false);
    ch.reject(h2?.deliveryTag as number, true);
    ch.reject(h1?.deliveryTag as number, true);
    expect(e.ready('q')).toEqual(['m1', 'm2', 'm3']);
  });

  it('a requeued message is redelivered before newer ones under a global prefetch', () => {
    const { ch, sink } = e.channel();
    ch.qos(1, true);
    e.consume(ch, 'q');
    publishMany(2);
    ch.nack(sink.tagOf('m1'), false, true);
    expect(sink.deliveries.map((d) => [d.body, d.redelivered])).toEqual([
      ['m1', false],
      ['m1', true],
    ]);
  });

  it('an old delivery left unacked while thousands of newer ones come and go stays settleable, in tag order', () => {
    const { ch, sink } = e.channel();
    e.consume(ch, 'q');
    const pub = e.channel().ch;
    // Each delivery is acked as soon as it arrives, except m1 and m1500, and some in pairs out of order.
    for (let i = 1; i <= 3000; i += 2) {
      e.publish(pub, '', 'q', `m${i}`);
      e.publish(pub, '', 'q', `m${i + 1}`);
      for (const b of [`m${i + 1}`, `m${i}`]) if (b !== 'm1' && b !== 'm1500') ch.ack(sink.tagOf(b), false);
    }
    expect(ch.unackedCount).toBe(2);
    for (const b of ['n1', 'n2', 'n3']) e.publish(pub, '', 'q', b);
    ch.ack(sink.tagOf('n2'), false);
    expect(thrown(() => ch.ack(sink.tagOf('m2'), false))).toEqual({ code: 'PRECONDITION_FAILED', message: `ack: unknown delivery tag ${sink.tagOf('m2')}` });
    ch.nack(sink.tagOf('m1'), false, true);
    ch.cancel(ch.consumers.keys().next().value as string);
    ch.ack(sink.tagOf('n1'), true);
    expect(ch.unackedCount).toBe(2);
    ch.session.closeChannel(ch.id);
    expect(e.ready('q')).toEqual(['m1', 'n3']);
  });

  it('ack multiple under a global prefetch settles only what the client had received', () => {
    const { ch, sink } = e.channel();
    ch.qos(2, true);
    e.consume(ch, 'q');
    publishMany(4);
    expect(sink.bodies()).toEqual(['m1', 'm2']);
    ch.ack(0, true);
    expect(sink.bodies()).toEqual(['m1', 'm2', 'm3', 'm4']);
    expect(ch.unackedCount).toBe(2);
    ch.ack(sink.tagOf('m4'), true);
    expect(ch.unackedCount).toBe(0);
  });
});

describe('closing and cancelling (SPEC §3.5.4)', () => {
  it('closing a channel requeues its unacked messages, in order, marked redelivered', () => {
    const a = e.channel();
    e.consume(a.ch, 'q');
    publishMany(5);
    a.ch.ack(a.sink.tagOf('m2'), false);
    a.ch.ack(a.sink.tagOf('m4'), false);
    a.ch.session.closeChannel(a.ch.id);
    publishMany(1, 'q', 'late');
    const b = e.channel();
    e.consume(b.ch, 'q');
    expect(b.sink.deliveries.map((d) => [d.body, d.redelivered])).toEqual([
      ['m1', true],
      ['m3', true],
      ['m5', true],
      ['late1', false],
    ]);
  });

  it('closing a session closes its channels and requeues across queues', () => {
    e.queue('r');
    const s = e.session();
    const c1 = e.channel(s, 1);
    const c2 = e.channel(s, 2);
    e.consume(c1.ch, 'q');
    e.consume(c2.ch, 'r');
    publishMany(2, 'q');
    publishMany(2, 'r', 'r');
    s.close();
    expect(e.ready('q')).toEqual(['m1', 'm2']);
    expect(e.ready('r')).toEqual(['r1', 'r2']);
    expect(e.broker.sessions.has(s.id)).toBe(false);
    expect(e.broker.stats()).toMatchObject({ consumers: 0, messagesUnacked: 0 });
  });

  it('cancel stops deliveries but leaves unacked messages with the channel (as AMQP)', () => {
    const { ch, sink } = e.channel();
    const tag = e.consume(ch, 'q');
    publishMany(2);
    expect(ch.cancel(tag)).toBe(true);
    expect(ch.cancel(tag)).toBe(false);
    publishMany(1, 'q', 'after');
    expect(sink.bodies()).toEqual(['m1', 'm2']);
    expect(unacked()).toBe(2);
    ch.ack(sink.tagOf('m1'), false);
    expect(e.ready('q')).toEqual(['after1']);
  });

  it('deleting a queue cancels its consumers (server-sent basic.cancel)', () => {
    const { ch, sink } = e.channel();
    const tag = e.consume(ch, 'q');
    e.broker.deleteQueue('q', false, false, null);
    expect(sink.cancels).toEqual([tag]);
    expect(ch.consumers.size).toBe(0);
    expect(e.broker.stats().consumers).toBe(0);
  });

  it('unacked messages of a deleted queue are dropped when settled or requeued', () => {
    const { ch, sink } = e.channel();
    e.consume(ch, 'q');
    publishMany(2);
    e.broker.deleteQueue('q', false, false, null);
    ch.nack(sink.tagOf('m1'), false, true);
    ch.ack(sink.tagOf('m2'), false);
    expect(e.broker.queuedBytes).toBe(0);
  });
});

describe('consume and get', () => {
  it('a consumer tag used twice on a channel is NOT_ALLOWED', () => {
    const { ch } = e.channel();
    e.consume(ch, 'q', { tag: 't' });
    expect(thrown(() => ch.consume('q', 't', false, false))).toEqual({ code: 'NOT_ALLOWED', message: "attempt to reuse consumer tag 't'" });
  });

  it('an exclusive consumer shuts out others, and cannot join a queue that has consumers', () => {
    e.queue('r');
    const a = e.channel();
    const b = e.channel();
    e.consume(a.ch, 'q', { exclusive: true });
    expect(thrown(() => b.ch.consume('q', '', false, false))).toEqual({
      code: 'ACCESS_REFUSED',
      message: "queue 'q' in vhost '/' has an exclusive consumer",
    });
    e.consume(a.ch, 'r');
    expect(thrown(() => b.ch.consume('r', '', false, true))).toEqual({
      code: 'ACCESS_REFUSED',
      message: "cannot obtain exclusive access to queue 'r': it has consumers",
    });
  });

  it('consuming from a missing queue is NOT_FOUND', () => {
    const { ch } = e.channel();
    expect(thrown(() => ch.consume('nope', '', false, false))).toEqual({ code: 'NOT_FOUND', message: "no queue 'nope' in vhost '/'" });
  });

  it('server-made consumer tags are unique', () => {
    const { ch } = e.channel();
    const tags = [e.consume(ch, 'q'), e.consume(ch, 'q'), e.consume(e.channel().ch, 'q')];
    expect(new Set(tags).size).toBe(3);
    for (const t of tags) expect(t).toMatch(/^sk\.ctag-/);
  });

  it('get takes the head with the count left, null when empty; noAck settles at once', () => {
    const { ch } = e.channel();
    publishMany(2);
    const r = ch.get('q', false);
    expect([r?.message.body.toString(), r?.messageCount, r?.message.redelivered]).toEqual(['m1', 1, false]);
    expect(unacked()).toBe(1);
    expect(ch.get('q', true)?.message.body.toString()).toBe('m2');
    expect(unacked()).toBe(1);
    expect(ch.get('q', false)).toBeNull();
  });
});
