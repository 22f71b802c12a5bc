import type amqplib from 'amqplib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Admin } from '../../src/client/admin.js';
import { startClockDaemon, type ClockDaemon } from '../helpers/delayed.js';
import { next } from '../helpers/amqp-daemon.js';
import { skiff } from '../helpers/cli.js';

/**
 * The `x-delayed-message` exchange (RabbitMQ's rabbitmq_delayed_message_exchange, SPEC §3.3.4)
 * from stock AMQP clients and Skiff's own, on a manual clock: nothing is slept, time moves
 * with `clock.advance`, and every check after it is a round trip.
 */

let d: ClockDaemon;
beforeEach(async () => {
  d = await startClockDaemon();
});
afterEach(async () => {
  await d.stop();
});

const PRECONDITION = "PRECONDITION_FAILED - Invalid argument, 'x-delayed-type' must be an existing exchange type";

async function confirmChannel(): Promise<amqplib.ConfirmChannel> {
  const c = await d.amqplib();
  return c.createConfirmChannel();
}

function publish(ch: amqplib.ConfirmChannel, exchange: string, key: string, body: string, options: amqplib.Options.Publish = {}): Promise<void> {
  return new Promise((resolve, reject) => ch.publish(exchange, key, Buffer.from(body), options, (err) => (err ? reject(err) : resolve())));
}

async function ready(ch: amqplib.Channel, queue: string): Promise<number> {
  return (await ch.checkQueue(queue)).messageCount;
}

async function bodies(ch: amqplib.Channel, queue: string): Promise<string[]> {
  const out: string[] = [];
  for (let m = await ch.get(queue, { noAck: true }); m !== false; m = await ch.get(queue, { noAck: true })) out.push(m.content.toString());
  return out;
}

describe('x-delayed-message: routing when due, as the plugin', () => {
  it('direct: held until its x-delay has passed, then routed by exact key', async () => {
    const ch = await confirmChannel();
    await ch.assertExchange('dx', 'x-delayed-message', { arguments: { 'x-delayed-type': 'direct' } });
    await ch.assertQueue('dq');
    await ch.assertQueue('other');
    await ch.bindQueue('dq', 'dx', 'k');
    await ch.bindQueue('other', 'dx', 'not-k');
    await publish(ch, 'dx', 'k', 'later', { headers: { 'x-delay': 5000 } });
    expect(await ready(ch, 'dq')).toBe(0);
    d.clock.advance(4999);
    expect(await ready(ch, 'dq')).toBe(0);
    d.clock.advance(1);
    expect(await bodies(ch, 'dq')).toEqual(['later']);
    expect(await ready(ch, 'other')).toBe(0);
  });

  it('fanout, topic and headers route as their own type when due', async () => {
    const ch = await confirmChannel();
    await ch.assertExchange('dfan', 'x-delayed-message', { arguments: { 'x-delayed-type': 'fanout' } });
    await ch.assertExchange('dtop', 'x-delayed-message', { arguments: { 'x-delayed-type': 'topic' } });
    await ch.assertExchange('dhdr', 'x-delayed-message', { arguments: { 'x-delayed-type': 'headers' } });
    for (const q of ['f1', 'f2', 't-star', 't-hash', 't-none', 'h-all', 'h-any']) await ch.assertQueue(q);
    await ch.bindQueue('f1', 'dfan', 'ignored');
    await ch.bindQueue('f2', 'dfan', '');
    await ch.bindQueue('t-star', 'dtop', 'stock.*.trade');
    await ch.bindQueue('t-hash', 'dtop', 'stock.#');
    await ch.bindQueue('t-none', 'dtop', 'bond.#');
    await ch.bindQueue('h-all', 'dhdr', '', { 'x-match': 'all', kind: 'pdf', size: 'big' });
    await ch.bindQueue('h-any', 'dhdr', '', { 'x-match': 'any', kind: 'pdf', size: 'small' });
    await publish(ch, 'dfan', 'whatever', 'fan', { headers: { 'x-delay': 100 } });
    await publish(ch, 'dtop', 'stock.aapl.trade', 'trade', { headers: { 'x-delay': 100 } });
    await publish(ch, 'dtop', 'stock', 'stock', { headers: { 'x-delay': 100 } });
    await publish(ch, 'dhdr', '', 'both', { headers: { 'x-delay': 100, kind: 'pdf', size: 'big' } });
    await publish(ch, 'dhdr', '', 'one', { headers: { 'x-delay': 100, kind: 'pdf' } });
    for (const q of ['f1', 'f2', 't-star', 't-hash', 'h-all', 'h-any']) expect(await ready(ch, q)).toBe(0);
    d.clock.advance(100);
    expect(await bodies(ch, 'f1')).toEqual(['fan']);
    expect(await bodies(ch, 'f2')).toEqual(['fan']);
    expect(await bodies(ch, 't-star')).toEqual(['trade']);
    expect(await bodies(ch, 't-hash')).toEqual(['trade', 'stock']);
    expect(await bodies(ch, 't-none')).toEqual([]);
    expect(await bodies(ch, 'h-all')).toEqual(['both']);
    expect(await bodies(ch, 'h-any')).toEqual(['both', 'one']);
  });

  it('orders by due time, then by publish order among messages due at the same moment', async () => {
    const ch = await confirmChannel();
    await ch.assertExchange('ord', 'x-delayed-message', { arguments: { 'x-delayed-type': 'fanout' } });
    await ch.assertQueue('ordq');
    await ch.bindQueue('ordq', 'ord', '');
    const plan: [string, number][] = [
      ['c', 300],
      ['a1', 100],
      ['b', 200],
      ['a2', 100],
      ['d', 400],
      ['a3', 100],
    ];
    for (const [body, delay] of plan) await publish(ch, 'ord', '', body, { headers: { 'x-delay': delay } });
    d.clock.advance(150);
    expect(await bodies(ch, 'ordq')).toEqual(['a1', 'a2', 'a3']);
    // Later publishes with a shorter delay still go by due time.
    await publish(ch, 'ord', '', 'e', { headers: { 'x-delay': 60 } }); // due at 210, after b (200)
    d.clock.advance(1000);
    expect(await bodies(ch, 'ordq')).toEqual(['b', 'e', 'c', 'd']);
  });

  it('x-delay: missing, 0, negative, non-numeric or longer than 2^32-1 ms routes at once; strings of digits and floats count', async () => {
    const ch = await confirmChannel();
    await ch.assertExchange('edge', 'x-delayed-message', { arguments: { 'x-delayed-type': 'direct' } });
    await ch.assertQueue('edgeq');
    await ch.bindQueue('edgeq', 'edge', 'k');
    await publish(ch, 'edge', 'k', 'none');
    await publish(ch, 'edge', 'k', 'zero', { headers: { 'x-delay': 0 } });
    await publish(ch, 'edge', 'k', 'negative', { headers: { 'x-delay': -5000 } });
    await publish(ch, 'edge', 'k', 'words', { headers: { 'x-delay': 'soon' } });
    await publish(ch, 'edge', 'k', 'too-long', { headers: { 'x-delay': 4_294_967_296 } });
    expect(await bodies(ch, 'edgeq')).toEqual(['none', 'zero', 'negative', 'words', 'too-long']);
    await publish(ch, 'edge', 'k', 'string', { headers: { 'x-delay': '300' } });
    await publish(ch, 'edge', 'k', 'float', { headers: { 'x-delay': 200.9 } });
    await publish(ch, 'edge', 'k', 'longest', { headers: { 'x-delay': 4_294_967_295 } });
    expect(await ready(ch, 'edgeq')).toBe(0);
    d.clock.advance(200);
    expect(await bodies(ch, 'edgeq')).toEqual(['float']);
    d.clock.advance(100);
    expect(await bodies(ch, 'edgeq')).toEqual(['string']);
    d.clock.advance(4_294_967_295);
    expect(await bodies(ch, 'edgeq')).toEqual(['longest']);
  });

  it('the delivered message keeps its properties, headers and body; x-delay is negated', async () => {
    const ch = await confirmChannel();
    await ch.assertExchange('props', 'x-delayed-message', { arguments: { 'x-delayed-type': 'direct' } });
    await ch.assertQueue('propsq');
    await ch.bindQueue('propsq', 'props', 'k');
    await publish(ch, 'props', 'k', 'payload', { headers: { 'x-delay': 10, app: 'x' }, messageId: 'm-1', contentType: 'text/plain', priority: 3 });
    d.clock.advance(10);
    const m = await ch.get('propsq', { noAck: true });
    // As the plugin: x-delay comes out negated, so the message is never delayed twice.
    expect(m && [m.content.toString(), m.properties.messageId, m.properties.contentType, m.properties.headers, m.fields.exchange, m.fields.routingKey]).toEqual([
      'payload',
      'm-1',
      'text/plain',
      { 'x-delay': -10, app: 'x' },
      'props',
      'k',
    ]);
  });

  it('@cloudamqp/amqp-client and the native client publish delayed messages the same way', async () => {
    const cloud = await d.cloudamqp();
    const cch = await cloud.channel();
    await cch.exchangeDeclare('both', 'x-delayed-message', { durable: false }, { 'x-delayed-type': 'direct' });
    await cch.queueDeclare('bothq');
    await cch.queueBind('bothq', 'both', 'k');
    await cch.confirmSelect();
    await cch.basicPublish('both', 'k', 'from-cloudamqp', { headers: { 'x-delay': 200 } });
    const conn = await d.native();
    const nch = await conn.channel();
    await nch.confirmSelect();
    await nch.publish('both', 'k', 'from-native', { headers: { 'x-delay': 100 } });
    expect((await nch.declareQueue('bothq', { passive: true })).messageCount).toBe(0);
    d.clock.advance(200);
    const got: unknown[] = [];
    for (let m = await nch.get('bothq', { noAck: true }); m !== null; m = await nch.get('bothq', { noAck: true })) got.push([m.text(), m.properties.headers?.['x-delay']]);
    expect(got).toEqual([
      ['from-native', -100],
      ['from-cloudamqp', -200],
    ]);
  });
});

describe('x-delayed-message: mandatory, alternate exchange, deletion', () => {
  it('holds a message dead-lettered to it with an x-delay, once: the second pass is not delayed (as the plugin)', async () => {
    const ch = await confirmChannel();
    await ch.assertExchange('retry', 'x-delayed-message', { arguments: { 'x-delayed-type': 'direct' } });
    await ch.assertQueue('work', { arguments: { 'x-dead-letter-exchange': 'retry', 'x-dead-letter-routing-key': 'work' } });
    await ch.bindQueue('work', 'retry', 'work');
    await publish(ch, '', 'work', 'job', { headers: { 'x-delay': 500 } });
    const first = await ch.get('work');
    expect(first && first.properties.headers?.['x-delay']).toBe(500);
    ch.nack(first as amqplib.GetMessage, false, false);
    expect(await ready(ch, 'work')).toBe(0);
    d.clock.advance(499);
    expect(await ready(ch, 'work')).toBe(0);
    d.clock.advance(1);
    const second = await ch.get('work');
    const deaths = (second === false ? [] : second.properties.headers?.['x-death']) as { count: number }[];
    expect([second && second.properties.headers?.['x-delay'], deaths[0]?.count]).toEqual([-500, 1]);
    ch.nack(second as amqplib.GetMessage, false, false);
    // Negated: routed at once this time.
    const third = await ch.get('work', { noAck: true });
    expect(third && third.content.toString()).toBe('job');
  });

  it('mandatory: a message that finds no queue when due comes back to its still-open channel with 312 NO_ROUTE', async () => {
    const ch = await confirmChannel();
    await ch.assertExchange('mx', 'x-delayed-message', { arguments: { 'x-delayed-type': 'direct' } });
    await ch.assertQueue('mq');
    await ch.bindQueue('mq', 'mx', 'bound');
    const returns: amqplib.Message[] = [];
    ch.on('return', (m: amqplib.Message) => returns.push(m));
    // Confirmed at once (it is held, not unroutable): no return at publish time.
    await publish(ch, 'mx', 'nobody', 'back', { mandatory: true, headers: { 'x-delay': 1000 }, messageId: 'r-1' });
    await publish(ch, 'mx', 'bound', 'routed', { mandatory: true, headers: { 'x-delay': 1000 } });
    await ch.checkQueue('mq');
    expect(returns).toEqual([]);
    const returned = next<amqplib.Message>((cb) => ch.once('return', cb));
    d.clock.advance(1000);
    const r = await returned;
    const f = r.fields as unknown as Record<string, unknown>;
    expect([f['replyCode'], f['replyText'], r.fields.exchange, r.fields.routingKey, r.content.toString(), r.properties.messageId]).toEqual([
      312,
      'NO_ROUTE',
      'mx',
      'nobody',
      'back',
      'r-1',
    ]);
    expect(await bodies(ch, 'mq')).toEqual(['routed']);
    expect(returns.length).toBe(1);
  });

  it('mandatory over the native protocol: the return comes to onReturn when due', async () => {
    const conn = await d.native();
    const ch = await conn.channel();
    await ch.confirmSelect();
    await ch.declareExchange('nmx', 'x-delayed-message', { arguments: { 'x-delayed-type': 'topic' } });
    const returned = new Promise<{ code: string; exchange: string; routingKey: string; body: string }>((resolve) =>
      ch.onReturn((r) => resolve({ code: r.code, exchange: r.exchange, routingKey: r.routingKey, body: Buffer.from(r.message.body).toString() })),
    );
    await ch.publish('nmx', 'a.b', 'native-back', { mandatory: true, headers: { 'x-delay': 300 } });
    await ch.declareExchange('nmx', 'x-delayed-message', { passive: true });
    d.clock.advance(300);
    expect(await returned).toEqual({ code: 'NO_ROUTE', exchange: 'nmx', routingKey: 'a.b', body: 'native-back' });
  });

  it('mandatory: when the publisher has gone, the unroutable message is dropped and counted; an alternate exchange takes it', async () => {
    const c = await d.amqplib();
    const ch = await c.createConfirmChannel();
    await ch.assertExchange('gone', 'x-delayed-message', { arguments: { 'x-delayed-type': 'direct' } });
    await ch.assertExchange('lost', 'fanout');
    await ch.assertQueue('lostq');
    await ch.bindQueue('lostq', 'lost', '');
    await ch.assertExchange('withae', 'x-delayed-message', { arguments: { 'x-delayed-type': 'direct', 'alternate-exchange': 'lost' } });
    await publish(ch, 'gone', 'nobody', 'dropped', { mandatory: true, headers: { 'x-delay': 50 } });
    await publish(ch, 'withae', 'nobody', 'to-ae', { mandatory: true, headers: { 'x-delay': 50 } });
    await ch.close();
    const before = d.daemon.broker.unroutableTotal;
    d.clock.advance(50);
    const ch2 = await c.createChannel();
    expect(await bodies(ch2, 'lostq')).toEqual(['to-ae']);
    expect(d.daemon.broker.unroutableTotal - before).toBe(1);
  });

  it('a message published without x-delay and mandatory that routes nowhere is returned at once, as any exchange', async () => {
    const ch = await confirmChannel();
    await ch.assertExchange('now', 'x-delayed-message', { arguments: { 'x-delayed-type': 'direct' } });
    const returned = next<amqplib.Message>((cb) => ch.once('return', cb));
    ch.publish('now', 'nobody', Buffer.from('bounce'), { mandatory: true });
    expect((await returned).content.toString()).toBe('bounce');
  });

  it('deleting the exchange drops its scheduled messages and their timers', async () => {
    const ch = await confirmChannel();
    await ch.assertExchange('del', 'x-delayed-message', { arguments: { 'x-delayed-type': 'fanout' } });
    await ch.assertQueue('delq');
    await ch.bindQueue('delq', 'del', '');
    for (let i = 0; i < 10; i++) await publish(ch, 'del', '', `m${i}`, { headers: { 'x-delay': 100 + i } });
    const pending = d.clock.pending;
    await ch.deleteExchange('del');
    expect(d.clock.pending).toBeLessThan(pending);
    await ch.assertExchange('del', 'x-delayed-message', { arguments: { 'x-delayed-type': 'fanout' } });
    await ch.bindQueue('delq', 'del', '');
    d.clock.advance(1000);
    expect(await ready(ch, 'delq')).toBe(0);
    expect(d.daemon.broker.queuedBytes).toBe(0);
  });
});

describe('x-delayed-message: listing and bad arguments', () => {
  it('HTTP /api/exchanges and admin.list show messages_delayed', async () => {
    const ch = await confirmChannel();
    await ch.assertExchange('listed', 'x-delayed-message', { arguments: { 'x-delayed-type': 'topic' } });
    for (let i = 0; i < 3; i++) await publish(ch, 'listed', 'a.b', `m${i}`, { headers: { 'x-delay': 1000 * (i + 1) } });
    const one = await d.get('/api/exchanges/%2F/listed');
    expect(one.status).toBe(200);
    const x = one.json as Record<string, unknown>;
    expect([x['type'], x['arguments'], x['messages_delayed']]).toEqual(['x-delayed-message', { 'x-delayed-type': 'topic' }, 3]);
    const all = (await d.get('/api/exchanges')).json as Record<string, unknown>[];
    expect(all.find((e) => e['name'] === 'amq.direct')?.['messages_delayed']).toBeUndefined();
    const admin = new Admin(await d.native());
    const rows = await admin.exchanges();
    expect(rows.find((r) => r.name === 'listed')?.messagesDelayed).toBe(3);
    d.clock.advance(1000);
    expect(((await d.get('/api/exchanges/%2F/listed')).json as Record<string, unknown>)['messages_delayed']).toBe(2);
    expect((await admin.exchanges()).find((r) => r.name === 'listed')?.messagesDelayed).toBe(2);
  });

  it('skiff list exchanges shows the count in its delayed column', async () => {
    const ch = await confirmChannel();
    await ch.assertExchange('cli.later', 'x-delayed-message', { arguments: { 'x-delayed-type': 'fanout' } });
    for (let i = 0; i < 4; i++) await publish(ch, 'cli.later', '', `m${i}`, { headers: { 'x-delay': 1000 } });
    const r = await skiff(['list', 'exchanges', '--url', `skiff://guest:guest@127.0.0.1:${d.daemon.port}`]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^name\s+type\s+durable\s+flags\s+bindings\s+delayed\n/);
    expect(r.stdout).toMatch(/\ncli\.later\s+x-delayed-message\s+yes\s+0\s+4\n/);
    expect(r.stdout).toMatch(/\namq\.direct\s+direct\s+yes\s+0\n/);
  });

  it('definitions export a delayed exchange with its x-delayed-type, and importing them declares it', async () => {
    const ch = await confirmChannel();
    await ch.assertExchange('exported', 'x-delayed-message', { durable: true, arguments: { 'x-delayed-type': 'headers' } });
    const defs = (await d.get('/api/definitions')).json as { exchanges: Record<string, unknown>[] };
    const x = defs.exchanges.find((e) => e['name'] === 'exported');
    expect([x?.['type'], x?.['durable'], x?.['arguments']]).toEqual(['x-delayed-message', true, { 'x-delayed-type': 'headers' }]);
    const other = await startClockDaemon();
    try {
      const r = await other.post('/api/definitions', defs);
      expect(r.status).toBeLessThan(300);
      const y = other.daemon.broker.exchanges.get('exported');
      expect([y?.type, y?.arguments]).toEqual(['x-delayed-message', { 'x-delayed-type': 'headers' }]);
    } finally {
      await other.stop();
    }
  });

  for (const [what, args] of [
    ['missing', {}],
    ['an unknown type', { 'x-delayed-type': 'nonsense' }],
    ['the delayed type itself', { 'x-delayed-type': 'x-delayed-message' }],
    ['not a string', { 'x-delayed-type': 5 }],
  ] as const) {
    it(`x-delayed-type ${what}: 406 PRECONDITION_FAILED naming the argument, as the plugin`, async () => {
      const c = await d.amqplib();
      const ch = await c.createChannel();
      ch.on('error', () => undefined);
      const closed = next<Error>((cb) => ch.once('close', () => undefined) && ch.once('error', cb));
      await expect(ch.assertExchange('bad', 'x-delayed-message', { arguments: args })).rejects.toThrow();
      expect((await closed).message).toBe(`Channel closed by server: 406 (PRECONDITION-FAILED) with message "${PRECONDITION}"`);
      expect(d.daemon.broker.exchanges.has('bad')).toBe(false);
    });
  }

  it('the native client gets the same error, and a redeclare with another x-delayed-type is inequivalent', async () => {
    const conn = await d.native();
    const ch = await conn.channel();
    await expect(ch.declareExchange('bad', 'x-delayed-message', { arguments: { 'x-delayed-type': 'nope' } })).rejects.toThrow(
      "Invalid argument, 'x-delayed-type' must be an existing exchange type",
    );
    const ch2 = await conn.channel();
    await ch2.declareExchange('good', 'x-delayed-message', { arguments: { 'x-delayed-type': 'direct' } });
    await expect(ch2.declareExchange('good', 'x-delayed-message', { arguments: { 'x-delayed-type': 'fanout' } })).rejects.toThrow(
      "inequivalent arg 'x-delayed-type' for exchange 'good' in vhost '/': received 'fanout' but current is 'direct'",
    );
  });

  it('x-delayed-type on another exchange type is refused as an unknown argument', async () => {
    const conn = await d.native();
    const ch = await conn.channel();
    await expect(ch.declareExchange('plain', 'direct', { arguments: { 'x-delayed-type': 'direct' } })).rejects.toThrow("unknown exchange argument 'x-delayed-type'");
  });

  it('headers bindings are checked as the headers type checks them', async () => {
    const conn = await d.native();
    const ch = await conn.channel();
    await ch.declareExchange('dh', 'x-delayed-message', { arguments: { 'x-delayed-type': 'headers' } });
    await ch.declareQueue('dhq');
    await expect(ch.bindQueue('dhq', 'dh', '', { 'x-match': 'some' })).rejects.toThrow("invalid arg 'x-match' for binding to exchange 'dh'");
  });
});

describe('retry with backoff through a delayed exchange (README worked example)', () => {
  it('retries after 1 s, 2 s, 4 s, 8 s, then parks the job; each delay holds to the millisecond', async () => {
    const MAX_ATTEMPTS = 5;
    const backoffMs = (attempt: number): number => 1000 * 2 ** (attempt - 1);
    const conn = await d.native();
    const ch = await conn.channel();
    await ch.confirmSelect();
    await ch.declareQueue('jobs', { durable: true });
    await ch.declareQueue('jobs.failed', { durable: true });
    await ch.declareExchange('jobs.retry', 'x-delayed-message', { durable: true, arguments: { 'x-delayed-type': 'direct' } });
    await ch.bindQueue('jobs', 'jobs.retry', 'jobs');
    const attempts: number[] = [];
    // Attempts whose retry (or parking) publish has been confirmed: only then is it scheduled.
    let settled = 0;
    const seen = new Map<number, () => void>();
    const reached = (n: number): Promise<void> => (settled >= n ? Promise.resolve() : new Promise((r) => seen.set(n, r)));
    await ch.consume(
      'jobs',
      (msg) => {
        const attempt = ((msg.properties.headers?.['x-attempt'] as number | undefined) ?? 0) + 1;
        attempts.push(attempt);
        const again = attempt < MAX_ATTEMPTS;
        const headers = { ...msg.properties.headers, 'x-attempt': attempt, ...(again && { 'x-delay': backoffMs(attempt) }) };
        const done = again
          ? ch.publish('jobs.retry', 'jobs', msg.body, { ...msg.properties, persistent: true, headers })
          : ch.publish('', 'jobs.failed', msg.body, { ...msg.properties, persistent: true, headers });
        void done.then(() => {
          msg.ack();
          seen.get(++settled)?.();
        });
      },
      { prefetch: 10 },
    );
    await ch.publish('', 'jobs', JSON.stringify({ id: 1 }), { persistent: true });
    await reached(1);
    for (let attempt = 1; attempt < MAX_ATTEMPTS; attempt++) {
      d.clock.advance(backoffMs(attempt) - 1);
      await ch.declareQueue('jobs', { passive: true });
      expect(attempts.length).toBe(attempt);
      d.clock.advance(1);
      await reached(attempt + 1);
    }
    expect(attempts).toEqual([1, 2, 3, 4, 5]);
    await ch.declareQueue('jobs', { passive: true });
    const parked = await ch.get('jobs.failed', { noAck: true });
    expect([parked?.json(), parked?.properties.headers?.['x-attempt']]).toEqual([{ id: 1 }, 5]);
  });
});
