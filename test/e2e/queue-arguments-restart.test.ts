import { afterAll, describe, expect, it } from 'vitest';
import { freshDataDir, removeDataDirs, startDurable } from '../helpers/durable.js';
import { count, drain } from '../helpers/clock-server.js';

afterAll(removeDataDirs);

/** Queue arguments, exchange bindings and message expiry are durable topology and state. */
describe('policies survive a restart (durability contract)', () => {
  it('keeps arguments, priorities, expiry times, exchange-to-exchange bindings and dead letters', async () => {
    const dataDir = freshDataDir();
    let d = await startDurable(dataDir);
    let ch = await (await d.connect()).channel();
    const args = { 'x-max-priority': 5, 'x-message-ttl': 3_600_000, 'x-dead-letter-exchange': 'dlx', 'x-max-length': 100 };
    await ch.declareExchange('dlx', 'fanout', { durable: true });
    await ch.declareExchange('in', 'topic', { durable: true, arguments: { 'alternate-exchange': 'dlx' } });
    await ch.declareExchange('jobs', 'fanout', { durable: true });
    await ch.declareQueue('dead', { durable: true });
    await ch.bindQueue('dead', 'dlx');
    await ch.declareQueue('work', { durable: true, arguments: args });
    await ch.bindQueue('work', 'jobs', 'job');
    await ch.bindExchange('jobs', 'in', 'jobs.#');
    await ch.confirmSelect();
    for (const [body, priority] of [['low', 1], ['high', 5], ['mid', 3]] as const) await ch.publish('in', 'jobs.x', body, { persistent: true, priority });
    await ch.publish('', 'work', 'short', { persistent: true, expiration: 3_000_000 });
    await ch.publish('', 'work', 'rejected', { persistent: true, priority: 5 });
    (await ch.get('work'))?.reject(false); // 'high': first of the two at priority 5
    const expiries = (): Record<string, number> =>
      Object.fromEntries([...(d.daemon.broker.queues.get('work')?.readyMessages() ?? [])].map((m) => [m.body.toString(), m.expiresAt]));
    const before = expiries();
    await d.stop();

    d = await startDurable(dataDir);
    ch = await (await d.connect()).channel();
    expect(d.daemon.broker.queues.get('work')?.arguments).toEqual(args);
    expect(expiries()).toEqual(before);
    await ch.declareQueue('work', { durable: true, arguments: args }); // still equivalent
    expect(d.daemon.broker.exchangeBindings()).toEqual([{ source: 'in', destination: 'jobs', routingKey: 'jobs.#', arguments: {} }]);
    await ch.confirmSelect();
    await ch.publish('in', 'jobs.y', 'after-restart', { persistent: true, priority: 4 });
    await ch.publish('in', 'unroutable', 'to-alternate', { persistent: true });
    expect(await drain(ch, 'work')).toEqual(['rejected', 'after-restart', 'mid', 'low', 'short']);
    const dead = await drain(ch, 'dead');
    expect(dead).toEqual(['high', 'to-alternate']);
    expect(await count(ch, 'work')).toBe(0);
    await d.stop();
  });
});
