import { X509Certificate } from 'node:crypto';
import amqplib from 'amqplib';
import { copyFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { ConnectionError, ServerError, connect, webSocketTransport, type ConnectOptions, type Connection, type WebSocketConstructor } from '../../src/client/index.js';
import { ConfigError, resolveConfig, type ConfigOverrides } from '../../src/config/load.js';
import { startDaemon, type Daemon } from '../../src/daemon.js';
import { silentLogger } from '../../src/log/logger.js';
import { makePki, type Pki } from '../helpers/certs.js';
import { skiff, spawnDaemon, stopAllDaemons } from '../helpers/cli.js';
import { FAST_SCRYPT, request } from '../helpers/http.js';
import { useTempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

/**
 * TLS on the native listener (skiffs://) and the HTTP one (https), with certificates made by
 * openssl for this run: handshakes, verification failures, mutual TLS with login by certificate,
 * and a certificate reload on SIGHUP that leaves open connections alone.
 */

const REFUSED = 'ACCESS_REFUSED - login refused: wrong username or password';
const tmp = useTempDir('skiff-tls-');
let pki: Pki;
const running: Daemon[] = [];
const opened: Connection[] = [];

beforeAll(() => {
  pki = makePki(tmp.path);
});
afterEach(async () => {
  await Promise.all(opened.splice(0).map((c) => c.close().catch(() => undefined)));
  await Promise.all(running.splice(0).map((d) => d.stop()));
});
afterAll(() => stopAllDaemons());
beforeEach(() => {
  expect.hasAssertions();
});

async function start(tls: ConfigOverrides['tls'] = {}, more: ConfigOverrides = {}): Promise<Daemon> {
  const config = resolveConfig({
    host: '127.0.0.1',
    port: 0,
    loginThrottle: { delayMs: 0 },
    http: { host: '127.0.0.1', port: 0 },
    amqp: { port: 0 },
    tls: { certFile: pki.server.certFile, keyFile: pki.server.keyFile, port: 0, amqpsPort: 0, ...tls },
    ...more,
  });
  const d = await startDaemon(config, { log: silentLogger(), memoryOnly: true, scrypt: FAST_SCRYPT });
  running.push(d);
  return d;
}

const tlsPort = (d: Daemon): number => d.tls?.port ?? 0;

async function open(url: string, o: ConnectOptions = {}): Promise<Connection> {
  const c = await connect(url, { heartbeatMs: 0, reconnect: false, timeoutMs: 5000, ...o });
  opened.push(c);
  return c;
}

async function failure(p: Promise<unknown>): Promise<Error & { code?: string }> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(Error);
  return err as Error & { code?: string };
}

async function roundTrip(c: Connection, q: string): Promise<string> {
  const ch = await c.channel();
  await ch.declareQueue(q, { autoDelete: false });
  await ch.publish('', q, `over ${q}`);
  const m = await ch.get(q, { noAck: true });
  return m?.body.toString() ?? '(none)';
}

/** The certificate a fresh handshake gets, by its fingerprint. */
function servedFingerprint(port: number, o: ConnectionOptions): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ host: '127.0.0.1', port, servername: 'localhost', ...o }, () => {
      const fp = s.getPeerCertificate().fingerprint256;
      s.destroy();
      resolve(fp);
    });
    s.on('error', reject);
  });
}

function fingerprintOf(pem: string): string {
  return new X509Certificate(pem).fingerprint256;
}

describe('skiffs:// on the native TLS listener', () => {
  it('a client that trusts the CA connects, logs in and moves messages; the plain port still works', async () => {
    const d = await start();
    const c = await open(`skiffs://guest:guest@127.0.0.1:${tlsPort(d)}`, { tls: { ca: pki.ca } });
    expect(await roundTrip(c, 'tls-q')).toBe('over tls-q');
    const listed = [...d.registry.list()].map((x) => [x.protocol, x.port]);
    expect(listed).toEqual([['Skiff 1.0', tlsPort(d)]]);
    expect(d.registry.listeners().map((l) => l.protocol)).toEqual(['skiff', 'skiffs', 'amqp', 'amqp/ssl', 'http']);
    const plain = await open(`skiff://guest:guest@127.0.0.1:${d.port}`);
    expect(await roundTrip(plain, 'plain-q')).toBe('over plain-q');
  });

  it("the server is verified by default: unknown CA, another CA's certificate, the wrong name are each refused", async () => {
    const d = await start();
    const url = `skiffs://guest:guest@127.0.0.1:${tlsPort(d)}`;
    const noCa = await failure(open(url));
    expect(noCa).toBeInstanceOf(ConnectionError);
    expect([noCa.code, noCa.message]).toEqual(['ERR_TLS', `TLS handshake with 127.0.0.1:${tlsPort(d)} failed: unable to verify the first certificate (UNABLE_TO_VERIFY_LEAF_SIGNATURE)`]);
    const wrongCa = await failure(open(url, { tls: { ca: pki.rogueCa } }));
    expect([wrongCa.code, wrongCa.message]).toEqual(['ERR_TLS', `TLS handshake with 127.0.0.1:${tlsPort(d)} failed: unable to verify the first certificate (UNABLE_TO_VERIFY_LEAF_SIGNATURE)`]);
    const wrongName = await failure(open(url, { tls: { ca: pki.ca, servername: 'broker.example.com' } }));
    expect(wrongName.code).toBe('ERR_TLS');
    expect(wrongName.message).toBe(
      `TLS handshake with 127.0.0.1:${tlsPort(d)} failed: Hostname/IP does not match certificate's altnames: Host: broker.example.com. is not in the cert's altnames: DNS:localhost, IP Address:127.0.0.1 (ERR_TLS_CERT_ALTNAME_INVALID)`,
    );
    // A server certificate from another CA is refused by a client that trusts ours.
    const rogue = await start({ certFile: pki.rogueServer.certFile, keyFile: pki.rogueServer.keyFile });
    const e = await failure(open(`skiffs://guest:guest@127.0.0.1:${tlsPort(rogue)}`, { tls: { ca: pki.ca } }));
    expect(e.code).toBe('ERR_TLS');
    // The daemon shrugs all of this off.
    expect(await roundTrip(await open(url, { tls: { ca: pki.ca } }), 'after')).toBe('over after');
  });

  it('offers TLS 1.2 and later only', async () => {
    const d = await start();
    const err = await servedFingerprint(tlsPort(d), { ca: pki.ca, minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' }).then(
      () => null,
      (e: NodeJS.ErrnoException) => e,
    );
    expect(err?.code).toMatch(/^ERR_SSL_(TLSV1_ALERT_PROTOCOL_VERSION|UNSUPPORTED_PROTOCOL|NO_PROTOCOLS_AVAILABLE)$/);
    expect(await servedFingerprint(tlsPort(d), { ca: pki.ca, minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2' })).toBe(fingerprintOf(pki.server.cert));
  });
});

describe('amqps:// on the AMQP TLS listener', () => {
  it('amqplib connects over TLS with the CA, and is refused without it', async () => {
    const d = await start();
    const listener = d.registry.listeners().find((l) => l.protocol === 'amqp/ssl');
    expect(listener).toBeDefined();
    const url = `amqps://guest:guest@127.0.0.1:${listener?.port ?? 0}`;
    const c = await amqplib.connect(url, { ca: [pki.ca], servername: 'localhost' });
    const ch = await c.createChannel();
    await ch.assertQueue('amqps-q');
    ch.sendToQueue('amqps-q', Buffer.from('over amqps'));
    await waitFor(() => d.broker.queues.get('amqps-q')?.messageCount === 1, 'the message to arrive');
    await c.close();
    const err = await amqplib.connect(url, { servername: 'localhost' }).then(
      () => null,
      (e: NodeJS.ErrnoException) => e.code,
    );
    expect(err).toBe('UNABLE_TO_VERIFY_LEAF_SIGNATURE');
  });
});

describe('mutual TLS', () => {
  const mtls = { caFile: '', verifyPeer: true, failIfNoPeerCert: true, certLogin: true };

  it("a verified client certificate's CN logs in as that user with EXTERNAL; PLAIN still works beside it", async () => {
    const d = await start({ ...mtls, caFile: pki.caFile });
    await d.users.put('alice', { password: 'unused', tags: ['administrator'] });
    await d.permissions.set('alice', '/', { configure: '.*', write: '.*', read: '.*' });
    const url = `skiffs://127.0.0.1:${tlsPort(d)}`;
    const alice = await open(url, { mechanism: 'EXTERNAL', tls: { ca: pki.ca, cert: pki.alice.cert, key: pki.alice.key } });
    expect(await roundTrip(alice, 'mtls-q')).toBe('over mtls-q');
    expect([...d.registry.list()].map((c) => c.user)).toEqual(['alice']);
    const plain = await open(`skiffs://guest:guest@127.0.0.1:${tlsPort(d)}`, { tls: { ca: pki.ca, cert: pki.alice.cert, key: pki.alice.key } });
    expect([...d.registry.list()].map((c) => c.user).sort()).toEqual(['alice', 'guest']);
    await plain.close();
    // A certificate naming no user is the same refusal as a wrong password.
    const nobody = await failure(open(url, { mechanism: 'EXTERNAL', tls: { ca: pki.ca, cert: pki.nobody.cert, key: pki.nobody.key } }));
    expect(nobody).toBeInstanceOf(ServerError);
    expect(nobody.message).toBe(REFUSED);
  });

  it('no client certificate, or one from another CA, fails the handshake', async () => {
    const d = await start({ ...mtls, caFile: pki.caFile });
    const url = `skiffs://guest:guest@127.0.0.1:${tlsPort(d)}`;
    const none = await failure(open(url, { tls: { ca: pki.ca } }));
    expect(none).toBeInstanceOf(ConnectionError);
    const rogue = await failure(open(url, { tls: { ca: pki.ca, cert: pki.rogueClient.cert, key: pki.rogueClient.key } }));
    expect(rogue).toBeInstanceOf(ConnectionError);
    expect(d.registry.size).toBe(0);
  });

  it('without tls_fail_if_no_peer_cert a client may send none, but a bad one is still refused', async () => {
    const d = await start({ caFile: pki.caFile, verifyPeer: true, failIfNoPeerCert: false });
    const url = `skiffs://guest:guest@127.0.0.1:${tlsPort(d)}`;
    await open(url, { tls: { ca: pki.ca } });
    const rogue = await failure(open(url, { tls: { ca: pki.ca, cert: pki.rogueClient.cert, key: pki.rogueClient.key } }));
    expect(rogue).toBeInstanceOf(ConnectionError);
    expect([...d.registry.list()].length).toBe(1);
  });
});

function httpsGet(port: number, path: string, ca: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest({ host: '127.0.0.1', port, path, ca, servername: 'localhost', agent: false, headers: { authorization: `Basic ${Buffer.from('guest:guest').toString('base64')}` } }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('https on the HTTP listener', () => {
  it('serves the API over TLS with the same certificate; plain HTTP there gets nothing', async () => {
    const d = await start({ http: true });
    const port = d.http?.address?.port ?? 0;
    const r = await httpsGet(port, '/api/whoami', pki.ca);
    expect([r.status, JSON.parse(r.body)]).toEqual([200, { name: 'guest', tags: ['administrator'] }]);
    const overview = JSON.parse((await httpsGet(port, '/api/overview', pki.ca)).body) as { listeners: { protocol: string }[] };
    expect(overview.listeners.map((l) => l.protocol)).toEqual(['skiff', 'skiffs', 'amqp', 'amqp/ssl', 'https']);
    const plain = await request(port, 'GET', '/api/whoami').then(
      (x) => x.status,
      (e: NodeJS.ErrnoException) => e.code,
    );
    expect(plain).not.toBe(200);
  });
});

describe('wss on the HTTP listener with the Node.js client', () => {
  const transport = webSocketTransport(WebSocket as unknown as WebSocketConstructor);

  it('verifies the server against the CA given in tls, and refuses it without that CA', async () => {
    const d = await start({ http: true });
    const url = `wss://guest:guest@localhost:${d.http?.address?.port ?? 0}/ws`;
    const c = await open(url, { transport, tls: { ca: pki.ca } });
    const ch = await c.channel();
    const { queue } = await ch.declareQueue('', { exclusive: true });
    await ch.publish('', queue, 'over wss');
    expect((await ch.get(queue, { noAck: true }))?.text()).toBe('over wss');
    // Node's trusted roots do not include this run's CA.
    await expect(open(url, { transport })).rejects.toBeInstanceOf(ConnectionError);
  });
});

describe('configuration', () => {
  it('names the key of a missing or unusable file, and of keys that need each other', async () => {
    const missing = await failure(start({ certFile: tmp.join('nope.pem') }));
    expect(missing.message).toBe(`tls_cert_file: cannot read '${tmp.join('nope.pem')}': no such file`);
    const mismatched = await failure(start({ keyFile: pki.alice.keyFile }));
    expect(mismatched.message).toMatch(/^tls_cert_file: cannot be used with tls_key_file: .*key values mismatch/);
    expect(() => resolveConfig({ tls: { certFile: pki.server.certFile } })).toThrow(new ConfigError(['tls_key_file: is required when tls_cert_file is set']));
    expect(() => resolveConfig({ tls: { certFile: pki.server.certFile, keyFile: pki.server.keyFile, verifyPeer: true } })).toThrow(
      new ConfigError(['tls_ca_file: is required with tls_verify_peer = true (the CA client certificates must chain to)']),
    );
    expect(() => resolveConfig({ tls: { http: true } })).toThrow(new ConfigError(['tls_http: needs tls_cert_file (TLS is off without a certificate)']));
  });
});

describe('skiff server', () => {
  it('reloads the certificate on SIGHUP: new handshakes get the new one, open connections carry on', async () => {
    const cert = tmp.join('live.pem');
    const key = tmp.join('live.key');
    copyFileSync(pki.server.certFile, cert);
    copyFileSync(pki.server.keyFile, key);
    const conf = tmp.file('tls.toml', `login_failure_delay_ms = 0\namqp_port = 0\namqps_port = 0\ntls_cert_file = "${cert}"\ntls_key_file = "${key}"\ntls_port = 0\n`);
    const d = await spawnDaemon(['--config', conf]);
    const line = (msg: string): Record<string, unknown> | undefined =>
      d.logLines()
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .find((l) => l['msg'] === msg);
    const port = line('skiffs listening')?.['port'] as number;
    expect(await servedFingerprint(port, { ca: pki.ca })).toBe(fingerprintOf(pki.server.cert));
    // The CLI speaks skiffs:// too, verifying the daemon against --ca.
    const url = `skiffs://guest:guest@127.0.0.1:${port}`;
    const status = await skiff(['status', '--url', url, '--ca', pki.caFile, '--json']);
    expect([status.code, (JSON.parse(status.stdout) as { version: string }).version]).toEqual([0, expect.any(String)]);
    const unverified = await skiff(['status', '--url', url]);
    expect([unverified.code, unverified.stderr]).toEqual([3, `skiff: TLS handshake with 127.0.0.1:${port} failed: unable to verify the first certificate (UNABLE_TO_VERIFY_LEAF_SIGNATURE)\n`]);
    const before = await open(`skiffs://guest:guest@127.0.0.1:${port}`, { tls: { ca: pki.ca } });
    await roundTrip(before, 'reload-q');

    copyFileSync(pki.renewed.certFile, cert);
    copyFileSync(pki.renewed.keyFile, key);
    d.proc.kill('SIGHUP');
    await waitFor(() => line('TLS certificates reloaded') !== undefined, 'the reload to be logged');
    expect(await servedFingerprint(port, { ca: pki.ca })).toBe(fingerprintOf(pki.renewed.cert));
    // The connection opened before the reload still works.
    expect(await roundTrip(before, 'reload-q')).toBe('over reload-q');

    // A broken file on the next SIGHUP keeps the current certificate.
    copyFileSync(pki.alice.keyFile, key);
    d.proc.kill('SIGHUP');
    await waitFor(() => line('TLS certificates not reloaded; keeping the current ones') !== undefined, 'the failed reload to be logged');
    expect(await servedFingerprint(port, { ca: pki.ca })).toBe(fingerprintOf(pki.renewed.cert));
    await before.close();
    expect(await d.stop()).toBe(0);
  });

  it('warns when a plain listener is on a non-loopback address', async () => {
    const d = await spawnDaemon(['--host', '0.0.0.0']);
    const warned = d
      .logLines()
      .map((l) => JSON.parse(l) as { msg: string; host?: string })
      .filter((l) => l.msg.includes('travel in clear'));
    expect(warned).toEqual([
      expect.objectContaining({ host: '0.0.0.0', msg: 'the native listener is plain TCP on a non-loopback address: passwords and messages travel in clear (set tls_cert_file and use TLS)' }),
    ]);
    expect(await d.stop()).toBe(0);
  });
});
