import { describe, expect, it } from 'vitest';
import type { Channel, ReturnedMessage } from '../../src/client/index.js';
import { drain, usePolicyServer } from '../helpers/clock-server.js';
import { Collector } from '../helpers/wait.js';

const server = usePolicyServer();

/** Ready message bodies of a queue, read with get (acked). */

describe('topic exchange over TCP (SPEC §3.3)', () => {
  it('routes by wildcard binding keys, one copy per queue', async () => {
    const ch = await server().channel();
    await ch.declareExchange('market', 'topic');
    const bindings: Record<string, string[]> = {
      all: ['#'],
      nasdaq: ['nasdaq.*'],
      trades: ['*.*.trade', '#.trade'],
      aapl: ['*.aapl.#'],
    };
    for (const [q, keys] of Object.entries(bindings)) {
      await ch.declareQueue(q);
      for (const k of keys) await ch.bindQueue(q, 'market', k);
    }
    for (const key of ['nasdaq.aapl.trade', 'nasdaq.msft', 'nyse.aapl', 'trade', '']) await ch.publish('market', key, key);
    expect(await drain(ch, 'all')).toEqual(['nasdaq.aapl.trade', 'nasdaq.msft', 'nyse.aapl', 'trade', '']);
    expect(await drain(ch, 'nasdaq')).toEqual(['nasdaq.msft']);
    expect(await drain(ch, 'trades')).toEqual(['nasdaq.aapl.trade', 'trade']);
    expect(await drain(ch, 'aapl')).toEqual(['nasdaq.aapl.trade', 'nyse.aapl']);
  });

  it('amq.topic and amq.headers are built in', async () => {
    const ch = await server().channel();
    await ch.declareQueue('q');
    await ch.bindQueue('q', 'amq.topic', 'a.#');
    await ch.bindQueue('q', 'amq.headers', '', { kind: 'x' });
    await ch.publish('amq.topic', 'a.b', 'topic');
    await ch.publish('amq.headers', 'ignored', 'headers', { headers: { kind: 'x' } });
    expect(await drain(ch, 'q')).toEqual(['topic', 'headers']);
  });
});

describe('headers exchange over TCP (SPEC §3.3)', () => {
  it('x-match all / any, nil for presence, x- arguments ignored, routing key ignored', async () => {
    const ch = await server().channel();
    await ch.declareExchange('h', 'headers');
    for (const q of ['all', 'any', 'present', 'default', 'withx']) await ch.declareQueue(q);
    await ch.bindQueue('all', 'h', '', { 'x-match': 'all', format: 'pdf', type: 'report' });
    await ch.bindQueue('any', 'h', '', { 'x-match': 'any', format: 'pdf', type: 'report' });
    await ch.bindQueue('present', 'h', '', { urgent: null });
    await ch.bindQueue('default', 'h', '', { format: 'zip', 'x-note': 'not compared' });
    await ch.bindQueue('withx', 'h', '', { 'x-match': 'any-with-x', 'x-tenant': 't1' });
    const send = (body: string, headers?: Record<string, unknown>): Promise<void> =>
      ch.publish('h', 'whatever', body, headers === undefined ? {} : { headers });
    await send('pdf-report', { format: 'pdf', type: 'report' });
    await send('pdf-log', { format: 'pdf', type: 'log' });
    await send('urgent', { urgent: false });
    await send('zip', { format: 'zip' });
    await send('tenant', { 'x-tenant': 't1' });
    await send('none');
    expect(await drain(ch, 'all')).toEqual(['pdf-report']);
    expect(await drain(ch, 'any')).toEqual(['pdf-report', 'pdf-log']);
    expect(await drain(ch, 'present')).toEqual(['urgent']);
    expect(await drain(ch, 'default')).toEqual(['zip']);
    expect(await drain(ch, 'withx')).toEqual(['tenant']);
  });

  it('a binding is identified by its arguments: unbind needs them', async () => {
    const ch = await server().channel();
    await ch.declareExchange('h', 'headers');
    await ch.declareQueue('q');
    await ch.bindQueue('q', 'h', '', { a: 1 });
    await ch.bindQueue('q', 'h', '', { b: 2 });
    await ch.unbindQueue('q', 'h', '', { a: 1 });
    await ch.publish('h', '', 'a', { headers: { a: 1 } });
    await ch.publish('h', '', 'b', { headers: { b: 2 } });
    expect(await drain(ch, 'q')).toEqual(['b']);
    expect(server().broker.bindings().filter((b) => b.exchange === 'h')).toEqual([{ exchange: 'h', queue: 'q', routingKey: '', arguments: { b: 2 } }]);
  });
});

describe('exchange-to-exchange bindings (SPEC §3.3.3)', () => {
  it('routes through a chain of exchanges, once per queue, and stops at loops', async () => {
    const ch = await server().channel();
    await ch.declareExchange('in', 'topic');
    await ch.declareExchange('eu', 'fanout');
    await ch.declareExchange('audit', 'fanout');
    await ch.bindExchange('eu', 'in', 'eu.#');
    await ch.bindExchange('audit', 'in', '#');
    await ch.bindExchange('audit', 'eu'); // two paths to audit
    await ch.bindExchange('in', 'audit'); // a loop back to the start
    await ch.declareQueue('eu-orders');
    await ch.declareQueue('audit-log');
    await ch.bindQueue('eu-orders', 'eu');
    await ch.bindQueue('audit-log', 'audit');
    await ch.publish('in', 'eu.de.order', 'o1');
    await ch.publish('in', 'us.order', 'o2');
    expect(await drain(ch, 'eu-orders')).toEqual(['o1']);
    expect(await drain(ch, 'audit-log')).toEqual(['o1', 'o2']);
    expect(server().broker.exchangeBindings()).toContainEqual({ source: 'in', destination: 'eu', routingKey: 'eu.#', arguments: {} });

    await ch.unbindExchange('eu', 'in', 'eu.#');
    await ch.unbindExchange('eu', 'in', 'no-such-binding'); // a no-op, as queue.unbind
    await ch.publish('in', 'eu.fr.order', 'o3');
    expect(await drain(ch, 'eu-orders')).toEqual([]);
    expect(await drain(ch, 'audit-log')).toEqual(['o3']);
  });

  it('deleting an exchange removes bindings to it; an auto-delete source goes with its last one', async () => {
    const ch = await server().channel();
    await ch.declareExchange('src', 'fanout', { autoDelete: true });
    await ch.declareExchange('dst', 'fanout');
    await ch.bindExchange('dst', 'src');
    await ch.deleteExchange('dst');
    expect(server().broker.exchanges.has('src')).toBe(false);
    expect(server().broker.exchangeBindings()).toEqual([]);
  });

  it('errors: missing ends are NOT_FOUND, the default exchange is ACCESS_REFUSED', async () => {
    const setup = await server().channel();
    await setup.declareExchange('x', 'direct');
    const cases: [() => (ch: Channel) => Promise<void>, number, string][] = [
      [() => (c) => c.bindExchange('missing', 'x', 'k'), 404, "NOT_FOUND - no exchange 'missing' in vhost '/'"],
      [() => (c) => c.bindExchange('x', 'missing', 'k'), 404, "NOT_FOUND - no exchange 'missing' in vhost '/'"],
      [() => (c) => c.bindExchange('', 'x', 'k'), 403, 'ACCESS_REFUSED - operation not permitted on the default exchange'],
      [() => (c) => c.bindExchange('x', '', 'k'), 403, 'ACCESS_REFUSED - operation not permitted on the default exchange'],
      [() => (c) => c.unbindExchange('x', 'missing', 'k'), 404, "NOT_FOUND - no exchange 'missing' in vhost '/'"],
    ];
    for (const [make, replyCode, message] of cases) {
      const ch = await server().channel({ confirm: false });
      await expect(make()(ch)).rejects.toMatchObject({ replyCode, message });
    }
  });
});

describe('alternate exchange (SPEC §3.3.2)', () => {
  it('takes what the exchange cannot route; such messages are not returned', async () => {
    const ch = await server().channel();
    const returned = new Collector<ReturnedMessage>();
    ch.onReturn(returned.push);
    await ch.declareExchange('unrouted', 'fanout');
    await ch.declareQueue('lost-and-found');
    await ch.bindQueue('lost-and-found', 'unrouted');
    await ch.declareExchange('orders', 'direct', { arguments: { 'alternate-exchange': 'unrouted' } });
    await ch.declareQueue('known');
    await ch.bindQueue('known', 'orders', 'known');
    await ch.publish('orders', 'known', 'k', { mandatory: true });
    await ch.publish('orders', 'mystery', 'm', { mandatory: true });
    expect(await drain(ch, 'known')).toEqual(['k']);
    const lost = await ch.get('lost-and-found', { noAck: true });
    expect({ body: lost?.text(), exchange: lost?.exchange, routingKey: lost?.routingKey }).toEqual({ body: 'm', exchange: 'orders', routingKey: 'mystery' });
    expect(returned.length).toBe(0);
  });

  it('a missing alternate exchange routes nowhere: mandatory messages come back', async () => {
    const ch = await server().channel();
    const returned = new Collector<ReturnedMessage>();
    ch.onReturn(returned.push);
    await ch.declareExchange('orders', 'direct', { arguments: { 'alternate-exchange': 'not-declared' } });
    await ch.publish('orders', 'mystery', 'm', { mandatory: true });
    const [r] = await returned.take(1);
    expect({ code: r?.code, replyCode: r?.replyCode, text: r?.text, body: r?.message.text() }).toEqual({ code: 'NO_ROUTE', replyCode: 312, text: 'NO_ROUTE', body: 'm' });
  });
});
