import type amqplib from 'amqplib';
import type { AMQPBaseClient } from '@cloudamqp/amqp-client';
import { afterEach, beforeEach, expect } from 'vitest';
import type { Broker } from '../../src/broker/broker.js';
import type { Connection } from '../../src/client/index.js';
import { resolveConfig, type ConfigOverrides } from '../../src/config/load.js';
import { startDaemon, type Daemon } from '../../src/daemon.js';
import { silentLogger, type Logger } from '../../src/log/logger.js';
import { testClients } from './clients.js';
import { waitFor } from './wait.js';

/** The real daemon (native and AMQP listeners on port 0) and the clients a test opened. */
export interface AmqpTestDaemon {
  readonly daemon: Daemon;
  readonly broker: Broker;
  readonly amqpPort: number;
  /** `amqp://guest:guest@127.0.0.1:<port>` */
  readonly amqpUrl: string;
  /** amqplib, closed at teardown. */
  amqplib(url?: string): Promise<amqplib.ChannelModel>;
  /** @cloudamqp/amqp-client, closed at teardown. */
  cloudamqp(url?: string): Promise<AMQPBaseClient>;
  /** Skiff's own client over the native listener, closed at teardown. */
  native(): Promise<Connection>;
  stop(): Promise<void>;
}

/** Config keys to set (in memory only; every listener on port 0), and a logger to read. */
export type AmqpDaemonOptions = ConfigOverrides & { log?: Logger };

export async function startAmqpDaemon({ log, ...overrides }: AmqpDaemonOptions = {}): Promise<AmqpTestDaemon> {
  const config = resolveConfig({ host: '127.0.0.1', port: 0, heartbeatMs: 0, ...overrides, http: { enabled: false, ...overrides.http }, amqp: { port: 0, ...overrides.amqp } });
  const daemon = await startDaemon(config, { log: log ?? silentLogger(), memoryOnly: true });
  const amqpPort = daemon.amqp?.address?.port ?? 0;
  const amqpUrl = `amqp://guest:guest@127.0.0.1:${amqpPort}`;
  const clients = testClients(amqpUrl, `skiff://guest:guest@127.0.0.1:${daemon.port}`);
  return {
    daemon,
    broker: daemon.broker,
    amqpPort,
    amqpUrl,
    amqplib: clients.amqplib,
    cloudamqp: clients.cloudamqp,
    native: clients.native,
    async stop() {
      await clients.closeAll();
      await waitFor(() => daemon.broker.sessions.size === 0, 'every session to close');
      const stats = daemon.broker.stats();
      expect({ consumers: stats.consumers, unacked: stats.messagesUnacked }, 'broker state after all clients left').toEqual({ consumers: 0, unacked: 0 });
      await daemon.stop();
    },
  };
}

/** A fresh daemon per test of the enclosing describe block; read `current()` inside the test. */
export function useAmqpDaemon(options: AmqpDaemonOptions = {}): () => AmqpTestDaemon {
  let d: AmqpTestDaemon | null = null;
  beforeEach(async () => {
    d = await startAmqpDaemon(options);
  });
  afterEach(async () => {
    const t = d;
    d = null;
    if (t !== null) await t.stop();
  });
  return () => {
    if (d === null) throw new Error('useAmqpDaemon: no daemon outside a test');
    return d;
  };
}

/** Resolves with the next value `register` hands its callback. */
export function next<T>(register: (cb: (v: T) => void) => void): Promise<T> {
  return new Promise((resolve) => register(resolve));
}
