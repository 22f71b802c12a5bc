import { createServer, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Broker } from '../../src/broker/broker.js';
import { connect } from '../../src/client/index.js';
import { resolveConfig } from '../../src/config/load.js';
import { silentLogger } from '../../src/log/logger.js';
import { UserAuthenticator, hashPassword, parsePasswordHash, type PasswordHash } from '../../src/server/auth.js';
import { NativeFrontEnd } from '../../src/server/native/front-end.js';
import { ConnectionRegistry } from '../../src/server/registry.js';
import { detached } from '../helpers/detached-stream.js';
import { waitFor } from '../helpers/wait.js';

let tcp: Server | null = null;
let native: NativeFrontEnd | null = null;
afterEach(async () => {
  await native?.close();
  native?.registry.close();
  await new Promise<void>((r) => (tcp === null ? r() : tcp.close(() => r())));
  tcp = null;
  native = null;
});

describe('the native front end on any stream (accept)', () => {
  it('serves the protocol over a Duplex that is not a socket, listed with the peer it was given', async () => {
    const broker = new Broker();
    const log = silentLogger();
    const c = resolveConfig();
    const passwordHash = parsePasswordHash(await hashPassword('app-pw', { ln: 10, r: 8, p: 1 })) as PasswordHash;
    // guest logs in from loopback only, and the peer this stream claims is not loopback.
    const auth = new UserAuthenticator({ users: [{ name: 'app', passwordHash, admin: false }] });
    const fe = new NativeFrontEnd({ broker, log, auth, registry: new ConnectionRegistry(broker, log), frameMax: c.frameMax, channelMax: c.channelMax, heartbeatMs: c.heartbeatMs });
    native = fe;
    const server = createServer((s) => fe.accept(detached(s), { remoteAddress: '198.51.100.7', remotePort: 4000, localAddress: '203.0.113.1', localPort: 443 }));
    tcp = server;
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;

    const guest = await connect(`skiff://guest:guest@127.0.0.1:${port}`, { heartbeatMs: 0, reconnect: false }).catch((e: Error) => e.message);
    expect(guest).toBe('ACCESS_REFUSED - login refused: wrong username or password');
    const conn = await connect(`skiff://app:app-pw@127.0.0.1:${port}`, { heartbeatMs: 0, reconnect: false, connectionName: 'over-a-stream' });
    const ch = await conn.channel();
    await ch.declareQueue('q');
    await ch.publish('', 'q', 'through the stream');
    expect((await ch.get('q', { noAck: true }))?.text()).toBe('through the stream');

    const listed = [...fe.registry.list()];
    expect(listed.map((l) => [l.protocol, l.name, l.userProvidedName, l.peerHost, l.peerPort, l.host, l.port, l.user, l.channelCount])).toEqual([
      ['Skiff 1.0', '198.51.100.7:4000 -> 203.0.113.1:443', 'over-a-stream', '198.51.100.7', 4000, '203.0.113.1', 443, 'app', 1],
    ]);
    expect(listed[0]?.bytesOut).toBeGreaterThan(0);
    expect(listed[0]?.bytesIn).toBeGreaterThan(0);
    await conn.close();
    await waitFor(() => fe.registry.size === 0 && fe.connections.size === 0, 'the connection to leave the registry');
    expect(broker.sessions.size).toBe(0);
  });
});
