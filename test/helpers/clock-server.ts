import { afterEach, beforeEach } from 'vitest';
import { Broker } from '../../src/broker/broker.js';
import { ManualClock } from '../../src/broker/clock.js';
import type { Persistence } from '../../src/broker/persistence.js';
import type { Channel } from '../../src/client/index.js';
import { startServer, type TestServer } from './server.js';

/** A real server whose broker runs on a {@link ManualClock}, and a way to open channels on it. */
export interface PolicyServer {
  readonly ts: TestServer;
  readonly broker: Broker;
  readonly clock: ManualClock;
  /** A fresh channel on a new connection, in confirm mode unless told otherwise. */
  channel(options?: { confirm?: boolean }): Promise<Channel>;
}

/**
 * Gives each test a server whose time moves only with `clock.advance(ms)`: TTL, queue expiry
 * and consumer timeouts are tested without sleeping. Timers fire inside `advance`; what they
 * send reaches clients asynchronously, so tests follow with a round trip or a collector.
 */
export function usePolicyServer(options: { persistence?: () => Persistence } = {}): () => PolicyServer {
  let current: PolicyServer | null = null;
  beforeEach(async () => {
    const clock = new ManualClock();
    const broker = new Broker({ clock, ...(options.persistence !== undefined && { persistence: options.persistence() }) });
    const ts = await startServer({ broker });
    current = {
      ts,
      broker,
      clock,
      async channel(options = {}) {
        const ch = await (await ts.connect()).channel();
        if (options.confirm ?? true) await ch.confirmSelect();
        return ch;
      },
    };
  });
  afterEach(async () => {
    const c = current;
    current = null;
    if (c !== null) await c.ts.stop();
  });
  return () => {
    if (current === null) throw new Error('usePolicyServer: no server outside a test');
    return current;
  };
}

/** Bodies of a queue's ready messages, taken with get (noAck) until it is empty. */
export async function drain(ch: Channel, queue: string): Promise<string[]> {
  const out: string[] = [];
  for (let m = await ch.get(queue, { noAck: true }); m !== null; m = await ch.get(queue, { noAck: true })) out.push(m.text());
  return out;
}

/** A queue's ready message count, by passive declare (a round trip on `ch`). */
export async function count(ch: Channel, queue: string): Promise<number> {
  return (await ch.declareQueue(queue, { passive: true })).messageCount;
}
