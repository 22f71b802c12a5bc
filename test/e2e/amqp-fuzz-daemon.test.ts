import { describe, expect, it } from 'vitest';
import { fuzzDaemon } from '../helpers/amqp-daemon-fuzz.js';
import { useAmqpDaemon } from '../helpers/amqp-daemon.js';
import { Random } from '../helpers/random.js';
import { waitFor } from '../helpers/wait.js';

/**
 * A bounded run of the daemon fuzz (bench/micro/amqp-daemon-fuzz.ts sends a million frames):
 * random and mutated frames on many connections past the handshake; afterwards the daemon
 * serves a stock client as before and has let go of every fuzz connection.
 */
describe('AMQP fuzz against the daemon', () => {
  const d = useAmqpDaemon();

  it('stays up and releases every connection after 3,000 random and mutated frames', async () => {
    const r = await fuzzDaemon(d().amqpPort, new Random(9), { frames: 3000, concurrency: 8 });
    expect(r.frames).toBeGreaterThanOrEqual(3000);
    await waitFor(() => d().broker.sessions.size === 0, 'every fuzz session to close');
    const c = await d().amqplib();
    const ch = await c.createChannel();
    const { queue } = await ch.assertQueue('', { exclusive: true });
    ch.sendToQueue(queue, Buffer.from('still here'));
    await waitFor(() => d().broker.queues.get(queue)?.messageCount === 1, 'the probe message');
    const m = await ch.get(queue, { noAck: true });
    expect(m !== false && m.content.toString()).toBe('still here');
  });
});
