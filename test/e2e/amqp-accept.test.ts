import amqplib from 'amqplib';
import { createServer, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Broker } from '../../src/broker/broker.js';
import { silentLogger } from '../../src/log/logger.js';
import { UserAuthenticator, hashPassword, parsePasswordHash, type PasswordHash } from '../../src/server/auth.js';
import { AmqpFrontEnd } from '../../src/server/amqp/front-end.js';
import { ConnectionRegistry } from '../../src/server/registry.js';
import { detached } from '../helpers/detached-stream.js';
import { waitFor } from '../helpers/wait.js';

/**
 * The AMQP front end on a stream that is not a socket (as AMQP over WebSocket's is not): it
 * sees only a Duplex and the peer it is told, for login checks and listings.
 */
let tcp: Server | null = null;
let fe: AmqpFrontEnd | null = null;
afterEach(async () => {
  await fe?.close();
  fe?.registry.close();
  await new Promise<void>((r) => (tcp === null ? r() : tcp.close(() => r())));
  tcp = null;
  fe = null;
});

describe('the AMQP front end on any stream (accept)', () => {
  it('serves AMQP 0-9-1 over a Duplex that is not a socket, checking and listing the peer it was given', async () => {
    const broker = new Broker();
    const log = silentLogger();
    const passwordHash = parsePasswordHash(await hashPassword('app-pw', { ln: 10, r: 8, p: 1 })) as PasswordHash;
    const auth = new UserAuthenticator({ users: [{ name: 'app', passwordHash, admin: false }] });
    const front = new AmqpFrontEnd({ broker, log, auth, registry: new ConnectionRegistry(broker, log) });
    fe = front;
    const server = createServer((s) => front.accept(detached(s), { remoteAddress: '198.51.100.7', remotePort: 4000, localAddress: '203.0.113.1', localPort: 443 }));
    tcp = server;
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;

    // guest logs in from loopback only, and the peer this stream claims is not loopback.
    await expect(amqplib.connect(`amqp://guest:guest@127.0.0.1:${port}`)).rejects.toThrow(/ACCESS_REFUSED - Login was refused/);
    const conn = await amqplib.connect(`amqp://app:app-pw@127.0.0.1:${port}`, { clientProperties: { connection_name: 'over-a-stream' } });
    const ch = await conn.createChannel();
    await ch.assertQueue('q');
    ch.sendToQueue('q', Buffer.from('through the stream'));
    await waitFor(() => broker.queues.get('q')?.messageCount === 1, 'the message');
    const m = await ch.get('q', { noAck: true });
    expect(m !== false && m.content.toString()).toBe('through the stream');
    const [row] = [...front.registry.list()];
    expect(row && [row.protocol, row.user, row.userProvidedName, row.peerHost, row.peerPort, row.host, row.port, row.name]).toEqual([
      'AMQP 0-9-1',
      'app',
      'over-a-stream',
      '198.51.100.7',
      4000,
      '203.0.113.1',
      443,
      '198.51.100.7:4000 -> 203.0.113.1:443',
    ]);
    await conn.close();
    await waitFor(() => broker.sessions.size === 0, 'the session to close');
  });
});
