import amqplib from 'amqplib';
import { AMQPClient, type AMQPBaseClient } from '@cloudamqp/amqp-client';
import { connect, type ConnectOptions, type Connection } from '../../src/client/index.js';

/** The stock and native clients a test opened on one daemon, closed together at teardown. */
export interface TestClients {
  /** amqplib on `amqpUrl` (or the given URL); its connection errors are swallowed, channels report theirs. */
  amqplib(url?: string): Promise<amqplib.ChannelModel>;
  /** @cloudamqp/amqp-client on `amqpUrl` (or the given URL). */
  cloudamqp(url?: string): Promise<AMQPBaseClient>;
  /** Skiff's own client on the native listener. */
  native(): Promise<Connection>;
  /** Closes every client opened so far, errors ignored. */
  closeAll(): Promise<void>;
}

export function testClients(amqpUrl: string, nativeUrl: string, nativeOptions: ConnectOptions = { heartbeatMs: 0 }): TestClients {
  const libs: amqplib.ChannelModel[] = [];
  const clouds: AMQPBaseClient[] = [];
  const natives: Connection[] = [];
  return {
    async amqplib(url = amqpUrl) {
      const c = await amqplib.connect(url);
      c.on('error', () => undefined);
      libs.push(c);
      return c;
    },
    async cloudamqp(url = amqpUrl) {
      const c = await new AMQPClient(url).connect();
      clouds.push(c);
      return c;
    },
    async native() {
      const c = await connect(nativeUrl, nativeOptions);
      natives.push(c);
      return c;
    },
    async closeAll() {
      await Promise.all(libs.map((c) => c.close().catch(() => undefined)));
      await Promise.all(clouds.map((c) => (c.closed ? undefined : c.close().catch(() => undefined))));
      await Promise.all(natives.map((c) => c.close().catch(() => undefined)));
    },
  };
}
