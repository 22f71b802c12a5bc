import { Broker } from './broker/broker.js';
import type { Logger } from './log/logger.js';
import { registerAdminMethods } from './server/admin.js';
import type { Authenticator } from './server/auth.js';
import type { StoreOptions } from './store/options.js';
import { DEFAULT_HOST, DEFAULT_PORT, SkiffServer } from './server/server.js';

export interface DaemonOptions {
  host?: string;
  port?: number;
  log: Logger;
  auth?: Authenticator;
  frameMax?: number;
  channelMax?: number;
  heartbeatMs?: number;
  memoryHighWatermarkBytes?: number;
  /** Durable store; absent = run in memory only (tests, embedding). Wired up by the durability work. */
  store?: StoreOptions;
}

export interface Daemon {
  readonly server: SkiffServer;
  readonly broker: Broker;
  readonly host: string;
  readonly port: number;
  /** Graceful stop: stop accepting, close connections, release everything. */
  stop(): Promise<void>;
}

/** Builds the broker and server and starts listening. */
export async function startDaemon(options: DaemonOptions): Promise<Daemon> {
  const broker = new Broker({ memoryHighWatermarkBytes: options.memoryHighWatermarkBytes ?? 0 });
  const server = new SkiffServer({
    broker,
    log: options.log,
    ...(options.auth !== undefined && { auth: options.auth }),
    ...(options.frameMax !== undefined && { frameMax: options.frameMax }),
    ...(options.channelMax !== undefined && { channelMax: options.channelMax }),
    ...(options.heartbeatMs !== undefined && { heartbeatMs: options.heartbeatMs }),
  });
  const admin = registerAdminMethods(server, { memoryHighWatermarkBytes: options.memoryHighWatermarkBytes ?? 0 });
  const addr = await server.listen(options.port ?? DEFAULT_PORT, options.host ?? DEFAULT_HOST);
  options.log.info({ host: addr.address, port: addr.port }, 'skiff listening');
  return {
    server,
    broker,
    host: addr.address,
    port: addr.port,
    stop: async () => {
      await server.close();
      admin.stop();
    },
  };
}
