import type amqplib from 'amqplib';
import type { AMQPBaseClient } from '@cloudamqp/amqp-client';
import { ManualClock } from '../../src/broker/clock.js';
import type { Connection } from '../../src/client/index.js';
import { resolveConfig } from '../../src/config/load.js';
import { startDaemon, type Daemon } from '../../src/daemon.js';
import { silentLogger } from '../../src/log/logger.js';
import type { StoreOptions } from '../../src/store/options.js';
import { testClients } from './clients.js';
import { request, type HttpReply } from './http.js';

/**
 * An in-process daemon on a {@link ManualClock} (every listener on port 0: native, AMQP, HTTP),
 * durable when given a data directory, and the clients a test opened on it.
 */
export interface ClockDaemon {
  readonly daemon: Daemon;
  readonly clock: ManualClock;
  amqplib(): Promise<amqplib.ChannelModel>;
  cloudamqp(): Promise<AMQPBaseClient>;
  native(): Promise<Connection>;
  get(path: string): Promise<HttpReply>;
  post(path: string, body: unknown): Promise<HttpReply>;
  stop(): Promise<void>;
}

export async function startClockDaemon(o: { clock?: ManualClock; dataDir?: string; store?: Partial<StoreOptions> } = {}): Promise<ClockDaemon> {
  const clock = o.clock ?? new ManualClock();
  const config = resolveConfig({
    host: '127.0.0.1',
    port: 0,
    heartbeatMs: 0,
    http: { port: 0 },
    amqp: { port: 0 },
    ...(o.dataDir !== undefined && { store: { dataDir: o.dataDir, ...o.store } }),
  });
  const daemon = await startDaemon(config, { log: silentLogger(), clock, memoryOnly: o.dataDir === undefined });
  const amqpUrl = `amqp://guest:guest@127.0.0.1:${daemon.amqp?.address?.port ?? 0}`;
  const httpPort = daemon.http?.address?.port ?? 0;
  const clients = testClients(amqpUrl, `skiff://guest:guest@127.0.0.1:${daemon.port}`, { heartbeatMs: 0, reconnect: false });
  return {
    daemon,
    clock,
    amqplib: () => clients.amqplib(),
    cloudamqp: () => clients.cloudamqp(),
    native: clients.native,
    get: (path) => request(httpPort, 'GET', path, { auth: 'guest:guest' }),
    post: (path, body) => request(httpPort, 'POST', path, { auth: 'guest:guest', body }),
    async stop() {
      await clients.closeAll();
      await daemon.stop();
    },
  };
}
