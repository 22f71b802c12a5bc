import { describe, expect, it } from 'vitest';
import type { Message } from '../../src/client/index.js';
import { usePolicyServer } from '../helpers/clock-server.js';
import { Collector } from '../helpers/wait.js';

const server = usePolicyServer();

/** The README's TTL recipe for retries (section "Delayed messages vs the TTL recipe"), on a manual clock. */
describe('delayed retry with backoff (README worked example)', () => {
  const MAX_ATTEMPTS = 5;
  const backoffMs = (attempt: number): number => 1000 * 2 ** (attempt - 1);
  const retries = (msg: Message): number => {
    const deaths = (msg.properties.headers?.['x-death'] ?? []) as { queue: string; reason: string; count: number }[];
    return deaths.find((d) => d.queue === 'jobs.delay' && d.reason === 'expired')?.count ?? 0;
  };

  it('retries after 1 s, 2 s, 4 s, 8 s, then parks the job; delays hold to the millisecond', async () => {
    const { clock } = server();
    const ch = await server().channel();
    await ch.declareQueue('jobs', { durable: true });
    await ch.declareQueue('jobs.delay', { durable: true, arguments: { 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': 'jobs' } });
    await ch.declareQueue('jobs.failed', { durable: true });

    const attempts = new Collector<number>();
    await ch.consume(
      'jobs',
      (msg) => {
        const attempt = retries(msg) + 1;
        attempts.push(attempt);
        const again = attempt < MAX_ATTEMPTS;
        void ch
          .publish('', again ? 'jobs.delay' : 'jobs.failed', msg.body, {
            ...msg.properties,
            persistent: true,
            ...(again && { expiration: backoffMs(attempt) }),
          })
          .then(() => msg.ack());
      },
      { prefetch: 10 },
    );
    await ch.publish('', 'jobs', JSON.stringify({ id: 1 }), { persistent: true });
    await attempts.take(1);
    for (let attempt = 1; attempt < MAX_ATTEMPTS; attempt++) {
      await ch.declareQueue('jobs.delay', { passive: true }); // the retry copy is in
      clock.advance(backoffMs(attempt)); // exactly the backoff: not older than its TTL yet
      expect((await ch.declareQueue('jobs.delay', { passive: true })).messageCount).toBe(1);
      expect(attempts.length).toBe(attempt);
      clock.advance(1);
      await attempts.take(attempt + 1);
    }
    expect(attempts.items).toEqual([1, 2, 3, 4, 5]);
    await ch.declareQueue('jobs', { passive: true });
    const parked = await ch.get('jobs.failed', { noAck: true });
    expect(parked?.json()).toEqual({ id: 1 });
    expect(retries(parked as Message)).toBe(4);
  });

  it('one delay queue holds different delays at once: each job comes back on its own time', async () => {
    const { clock } = server();
    const ch = await server().channel();
    await ch.declareQueue('jobs');
    await ch.declareQueue('jobs.delay', { arguments: { 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': 'jobs' } });
    await ch.publish('', 'jobs.delay', 'slow', { expiration: 8000 });
    await ch.publish('', 'jobs.delay', 'fast', { expiration: 1000 });
    clock.advance(1001);
    expect((await ch.get('jobs', { noAck: true }))?.text()).toBe('fast');
    expect(await ch.get('jobs')).toBeNull();
    clock.advance(7000);
    expect((await ch.get('jobs', { noAck: true }))?.text()).toBe('slow');
  });
});
