import { afterEach, beforeEach, expect } from 'vitest';
import { Broker } from '../../src/broker/broker.js';
import { connect, type ConnectOptions, type Connection } from '../../src/client/index.js';
import { resolveConfig } from '../../src/config/load.js';
import { silentLogger } from '../../src/log/logger.js';
import { GuestOnlyAuthenticator } from '../../src/server/auth.js';
import { NativeFrontEnd, type NativeFrontEndOptions } from '../../src/server/native/front-end.js';
import { ConnectionRegistry } from '../../src/server/registry.js';
import { RawClient } from './raw.js';
import { waitFor } from './wait.js';

/** A real daemon on an ephemeral port, and the clients a test opened against it. */
export interface TestServer {
  readonly server: NativeFrontEnd;
  readonly broker: Broker;
  readonly port: number;
  readonly url: string;
  /** Connects the real client over TCP; closed at teardown. */
  connect(options?: ConnectOptions): Promise<Connection>;
  /** Connects a bare socket and completes the handshake; destroyed at teardown. */
  raw(options?: { heartbeatMs?: number; frameMax?: number; handshake?: boolean; allowHalfOpen?: boolean }): Promise<RawClient>;
  /**
   * Closes every client, checks the broker let go of them (no sessions, consumers or unacked
   * messages left behind), and stops the server.
   */
  stop(): Promise<void>;
}

/** What a test may set on its server; the rest are the config's defaults. */
export type ServerOptions = Partial<NativeFrontEndOptions>;

/** Starts a native front end on 127.0.0.1 port 0 with the config's defaults and a silent logger. */
export async function startServer(options: ServerOptions = {}): Promise<TestServer> {
  const defaults = resolveConfig();
  const broker = options.broker ?? new Broker();
  const log = options.log ?? silentLogger();
  const server = new NativeFrontEnd({
    auth: new GuestOnlyAuthenticator(),
    registry: options.registry ?? new ConnectionRegistry(broker, log),
    frameMax: defaults.frameMax,
    channelMax: defaults.channelMax,
    heartbeatMs: defaults.heartbeatMs,
    ...options,
    broker,
    log,
  });
  const { port } = await server.listen(0, '127.0.0.1');
  const url = `skiff://guest:guest@127.0.0.1:${port}`;
  const clients: Connection[] = [];
  const raws: RawClient[] = [];
  return {
    server,
    broker: server.broker,
    port,
    url,
    async connect(opts = {}) {
      const c = await connect(url, { heartbeatMs: 0, ...opts });
      clients.push(c);
      return c;
    },
    async raw(opts = {}) {
      const r = await RawClient.connect(port, opts);
      if (opts.handshake !== false) await r.handshake(opts);
      raws.push(r);
      return r;
    },
    async stop() {
      for (const r of raws) r.destroy();
      await Promise.all(clients.map((c) => c.close()));
      await waitFor(() => server.broker.sessions.size === 0, 'every session to close');
      const stats = server.broker.stats();
      expect({ consumers: stats.consumers, unacked: stats.messagesUnacked }, 'broker state after all clients left').toEqual({
        consumers: 0,
        unacked: 0,
      });
      await server.close();
      server.registry.close();
    },
  };
}

/**
 * Gives each test of the enclosing describe block a fresh server (isolation costs a few ms).
 * Read `current()` inside the test.
 */
export function useServer(options: ServerOptions = {}): () => TestServer {
  let ts: TestServer | null = null;
  beforeEach(async () => {
    ts = await startServer(options);
  });
  afterEach(async () => {
    const t = ts;
    ts = null;
    if (t !== null) await t.stop();
  });
  return () => {
    if (ts === null) throw new Error('useServer: no server outside a test');
    return ts;
  };
}
