import type amqplib from 'amqplib';
import type { AMQPBaseClient } from '@cloudamqp/amqp-client';
import { ManualClock } from '../../src/broker/clock.js';
import type { Stream } from '../../src/broker/stream.js';
import type { Connection } from '../../src/client/index.js';
import { resolveConfig } from '../../src/config/load.js';
import { startDaemon, type Daemon } from '../../src/daemon.js';
import { silentLogger } from '../../src/log/logger.js';
import type { StoreOptions } from '../../src/store/options.js';
import { testClients } from './clients.js';
import { waitFor } from './wait.js';

/** An in-process daemon with a store and a manual clock, every listener on port 0, and its clients. */
export interface StreamDaemon {
  readonly daemon: Daemon;
  readonly clock: ManualClock;
  readonly amqpUrl: string;
  amqplib(): Promise<amqplib.ChannelModel>;
  cloudamqp(): Promise<AMQPBaseClient>;
  native(): Promise<Connection>;
  /** The broker's stream of that name. */
  stream(name: string): Stream;
  /** Closes the clients, then the daemon (final checkpoint). */
  stop(): Promise<void>;
}

export async function startStreamDaemon(
  dataDir: string | null,
  clock = new ManualClock(),
  store: Partial<StoreOptions> = {},
  options: { http?: boolean } = {},
): Promise<StreamDaemon> {
  const config = resolveConfig({
    port: 0,
    host: '127.0.0.1',
    heartbeatMs: 0,
    http: options.http === true ? { port: 0 } : { enabled: false },
    amqp: { port: 0 },
    ...(dataDir !== null && { store: { dataDir, ...store } }),
  });
  const daemon = await startDaemon(config, { log: silentLogger(), clock, memoryOnly: dataDir === null });
  const amqpUrl = `amqp://guest:guest@127.0.0.1:${daemon.amqp?.address?.port ?? 0}`;
  const clients = testClients(amqpUrl, `skiff://guest:guest@127.0.0.1:${daemon.port}`);
  return {
    daemon,
    clock,
    amqpUrl,
    amqplib: () => clients.amqplib(),
    cloudamqp: () => clients.cloudamqp(),
    native: clients.native,
    stream(name) {
      const q = daemon.broker.queues.get(name);
      if (q === undefined || !q.isStream) throw new Error(`no stream '${name}'`);
      return q as Stream;
    },
    async stop() {
      await clients.closeAll();
      await waitFor(() => daemon.broker.sessions.size === 0, 'every session to close');
      await daemon.stop();
    },
  };
}

/** Arguments of a stream declare. */
export function streamArgs(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { 'x-queue-type': 'stream', ...extra };
}

/**
 * Consumes `n` messages from a stream with amqplib (prefetch up to 100, each acked), returning
 * each body and its `x-stream-offset` header, then closes the channel. Deliveries past the
 * `n`th are left unacked (a named consumer's stored offset stays after the `n`th).
 */
export async function readAmqplib(
  ch: amqplib.Channel,
  stream: string,
  n: number,
  args: Record<string, unknown>,
): Promise<{ body: string; offset: number }[]> {
  await ch.prefetch(Math.max(1, Math.min(n, 100)));
  const got: { body: string; offset: number }[] = [];
  await new Promise<void>((resolve, reject) => {
    if (n === 0) resolve();
    ch.consume(
      stream,
      (m) => {
        if (m === null || got.length === n) return;
        got.push({ body: m.content.toString(), offset: Number(m.properties.headers?.['x-stream-offset']) });
        ch.ack(m);
        if (got.length === n) resolve();
      },
      { arguments: args },
    ).catch(reject);
  });
  await ch.close();
  return got;
}
