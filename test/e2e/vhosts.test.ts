import { AMQPClient, AMQPWebSocketClient } from '@cloudamqp/amqp-client';
import amqplib from 'amqplib';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { WebSocket } from 'ws';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Admin, ServerError, connect, type Connection } from '../../src/client/index.js';
import { freshDataDir, removeDataDirs } from '../helpers/durable.js';
import { startHttpDaemon, users, type HttpDaemon, type HttpDaemonOptions } from '../helpers/http.js';
import { skiff } from '../helpers/cli.js';

/**
 * Virtual hosts from the outside: made and deleted over HTTP, the admin methods and the CLI;
 * selected by the URL's path on the native protocol, by connection.open on AMQP (amqplib and
 * @cloudamqp/amqp-client), and over both WebSocket subprotocols; the same names in two vhosts
 * are independent objects, through a restart too; refusals in RabbitMQ's words.
 */

let d: HttpDaemon | null = null;
const conns: Connection[] = [];
const ops = { auth: 'ops:ops-pw' };

afterEach(async () => {
  await Promise.all(conns.splice(0).map((c) => c.close().catch(() => undefined)));
  await d?.stop();
  d = null;
});
afterAll(() => removeDataDirs());
beforeEach(() => {
  expect.hasAssertions();
});

async function start(o: HttpDaemonOptions = {}): Promise<HttpDaemon> {
  d = await startHttpDaemon({
    auth: await users([
      { name: 'ops', password: 'ops-pw', admin: true },
      { name: 'app', password: 'app-pw', admin: false },
    ]),
    loginThrottle: { delayMs: 0 },
    ...o,
  });
  return d;
}

/** Makes a vhost over HTTP and gives `users` full permissions in it. */
async function vhost(h: HttpDaemon, name: string, who: string[] = ['ops']): Promise<void> {
  expect((await h.put(`/api/vhosts/${encodeURIComponent(name)}`, { description: `tenant ${name}` }, ops)).status).toBe(201);
  for (const u of who) expect((await h.put(`/api/permissions/${encodeURIComponent(name)}/${u}`, { configure: '.*', write: '.*', read: '.*' }, ops)).status).toBe(201);
}

async function open(h: HttpDaemon, path: string, user = 'ops:ops-pw'): Promise<Connection> {
  const c = await connect(`skiff://${user}@127.0.0.1:${h.daemon.port}${path}`, { heartbeatMs: 0, reconnect: false });
  conns.push(c);
  return c;
}

const amqpPort = (h: HttpDaemon): number => h.daemon.amqp?.address?.port ?? 0;

describe('the same names in two vhosts', () => {
  it('are independent: routing, consuming, the default and amq.* exchanges, dead-lettering, policies', async () => {
    const h = await start();
    await vhost(h, 'a');
    await vhost(h, 'b');
    const a = await (await open(h, '/a')).channel();
    const b = await (await open(h, '/b')).channel();
    for (const ch of [a, b]) {
      await ch.declareExchange('x', 'direct', { durable: true });
      await ch.declareExchange('dlx', 'fanout');
    }
    // Same names, different arguments: no inequivalence across vhosts.
    await a.declareQueue('q', { durable: true, arguments: { 'x-dead-letter-exchange': 'dlx' } });
    await b.declareQueue('q', { durable: false });
    await a.declareQueue('dead');
    await b.declareQueue('dead');
    await a.bindQueue('q', 'x', 'k');
    await b.bindQueue('q', 'x', 'k');
    await a.bindQueue('dead', 'dlx', '');
    await b.bindQueue('dead', 'dlx', '');

    await a.publish('x', 'k', 'for a');
    await b.publish('amq.direct', 'k', 'unroutable in b');
    await b.publish('', 'q', 'for b, by the default exchange');
    expect((await a.get('q', { noAck: true }))?.body.toString()).toBe('for a');
    expect(await a.get('q')).toBeNull();
    expect((await b.get('q', { noAck: true }))?.body.toString()).toBe('for b, by the default exchange');

    // A message rejected in a is dead-lettered to a's 'dead', not b's.
    await a.publish('x', 'k', 'to die');
    const m = await a.get('q');
    m?.reject(false);
    expect((await a.get('dead', { noAck: true }))?.body.toString()).toBe('to die');
    expect(await b.get('dead')).toBeNull();

    // A policy of a applies to a's q only.
    expect((await h.put('/api/policies/a/len', { pattern: '^q$', definition: { 'max-length': 1 }, 'apply-to': 'queues' }, ops)).status).toBe(201);
    const qa = (await h.get('/api/queues/a/q', ops)).json as Record<string, unknown>;
    const qb = (await h.get('/api/queues/b/q', ops)).json as Record<string, unknown>;
    expect([qa['vhost'], qa['policy'], qb['vhost'], qb['policy']]).toEqual(['a', 'len', 'b', null]);
    expect((await h.get('/api/policies/b', ops)).json).toEqual([]);

    // Listings are per vhost, over HTTP and the admin methods; every vhost has the built-in exchanges.
    const names = async (path: string): Promise<string[]> => ((await h.get(path, ops)).json as { name: string }[]).map((r) => r.name).sort();
    expect(await names('/api/queues/a')).toEqual(['dead', 'q']);
    expect(await names('/api/exchanges/b')).toEqual(['', 'amq.direct', 'amq.fanout', 'amq.headers', 'amq.topic', 'dlx', 'x']);
    expect(((await h.get('/api/bindings/a', ops)).json as { source: string; vhost: string }[]).filter((x) => x.source === 'x').map((x) => x.vhost)).toEqual(['a']);
    const admin = new Admin(await open(h, ''));
    expect((await admin.queues({ vhost: 'b' })).map((q) => `${q.name} ${q.durable}`)).toEqual(['dead false', 'q false']);
    expect((await admin.queues()).map((q) => q.name)).toEqual([]);
    expect((await admin.vhosts()).map((v) => [v.name, v.description, v.queues, v.connections])).toEqual([
      ['/', 'Default virtual host', 0, 1],
      ['a', 'tenant a', 2, 1],
      ['b', 'tenant b', 2, 1],
    ]);
    // Metrics carry the vhost of each queue.
    const metrics = (await h.get('/metrics/per-object', ops)).text;
    expect(metrics).toMatch(/queue_messages_ready\{vhost="a",queue="q"\}/);
    expect(metrics).toMatch(/queue_messages_ready\{vhost="b",queue="q"\}/);
  });

  it('keep their own durable objects, messages and policies through a restart', async () => {
    const dataDir = freshDataDir();
    let h = await start({ store: { dataDir } });
    await vhost(h, 'a');
    await vhost(h, 'b');
    for (const [v, n] of [['a', 3], ['b', 1]] as const) {
      const ch = await (await open(h, `/${v}`)).channel();
      await ch.declareExchange('x', 'fanout', { durable: true });
      await ch.declareQueue('q', { durable: true });
      await ch.bindQueue('q', 'x', '');
      await ch.confirmSelect();
      for (let i = 0; i < n; i++) await ch.publish('x', '', `${v}${i}`, { persistent: true });
    }
    expect((await h.put('/api/policies/b/ttl', { pattern: '.*', definition: { 'message-ttl': 60000 } }, ops)).status).toBe(201);
    await h.stop();
    d = null;
    h = await start({ store: { dataDir } });
    expect(((await h.get('/api/vhosts', ops)).json as { name: string; description: string }[]).map((v) => `${v.name}: ${v.description}`)).toEqual([
      '/: Default virtual host',
      'a: tenant a',
      'b: tenant b',
    ]);
    const a = await (await open(h, '/a')).channel();
    const b = await (await open(h, '/b')).channel();
    const drain = async (ch: typeof a): Promise<string[]> => {
      const out: string[] = [];
      for (let m = await ch.get('q', { noAck: true }); m !== null; m = await ch.get('q', { noAck: true })) out.push(m.body.toString());
      return out;
    };
    expect(await drain(a)).toEqual(['a0', 'a1', 'a2']);
    expect(await drain(b)).toEqual(['b0']);
    // The bindings came back in their own vhost: publishing in a reaches a's q only.
    await a.publish('x', '', 'again');
    expect(await drain(a)).toEqual(['again']);
    expect(await drain(b)).toEqual([]);
    expect(((await h.get('/api/queues/b/q', ops)).json as Record<string, unknown>)['policy']).toBe('ttl');
    expect(((await h.get('/api/queues/a/q', ops)).json as Record<string, unknown>)['policy']).toBeNull();
  });
});

describe('selecting the vhost', () => {
  it('by the URL path on the native protocol, amqplib, @cloudamqp/amqp-client and both WebSocket subprotocols', async () => {
    const h = await start();
    await vhost(h, 'team/orders');
    const native = await (await open(h, '/team%2Forders')).channel();
    await native.declareQueue('shared', { durable: false });
    await native.publish('', 'shared', 'native');

    const lib = await amqplib.connect(`amqp://ops:ops-pw@127.0.0.1:${amqpPort(h)}/team%2Forders`);
    const libCh = await lib.createChannel();
    await libCh.checkQueue('shared');
    libCh.sendToQueue('shared', Buffer.from('amqplib'));
    await libCh.close();
    await lib.close();

    const cloud = await new AMQPClient(`amqp://ops:ops-pw@127.0.0.1:${amqpPort(h)}/team%2Forders`).connect();
    const cloudCh = await cloud.channel();
    await cloudCh.basicPublish('', 'shared', 'amqp-client');
    await cloud.close();

    const ws = await connect(`ws://ops:ops-pw@127.0.0.1:${h.httpPort}/ws?vhost=team%2Forders`, { heartbeatMs: 0, reconnect: false });
    conns.push(ws);
    await (await ws.channel()).publish('', 'shared', 'ws skiff');

    const g = globalThis as { WebSocket?: unknown };
    const before = g.WebSocket;
    g.WebSocket = WebSocket;
    try {
      const amqpWs = await new AMQPWebSocketClient(`ws://127.0.0.1:${h.httpPort}/ws`, 'team/orders', 'ops', 'ops-pw').connect();
      await (await amqpWs.channel()).basicPublish('', 'shared', 'ws amqp');
      await amqpWs.close();
    } finally {
      g.WebSocket = before;
    }

    const got: string[] = [];
    for (let m = await native.get('shared', { noAck: true }); m !== null; m = await native.get('shared', { noAck: true })) got.push(m.body.toString());
    expect(got.sort()).toEqual(['amqp-client', 'amqplib', 'native', 'ws amqp', 'ws skiff']);
    // None of it is in '/'.
    expect((await h.get('/api/queues/%2F/shared', ops)).status).toBe(404);
  });

  it("refuses an unknown vhost and a user without permissions in RabbitMQ's words, on every wire", async () => {
    const h = await start();
    await vhost(h, 'a', ['ops']);
    const nativeErr = async (path: string, user: string): Promise<[number, string]> => {
      const e = await open(h, path, user).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(ServerError);
      return [(e as ServerError).replyCode, (e as ServerError).message];
    };
    expect(await nativeErr('/nope', 'ops:ops-pw')).toEqual([530, 'NOT_ALLOWED - vhost nope not found']);
    expect(await nativeErr('/a', 'app:app-pw')).toEqual([530, "NOT_ALLOWED - access to vhost 'a' refused for user 'app'"]);
    // The password is checked first: a wrong one says nothing about the vhost.
    expect(await nativeErr('/nope', 'ops:wrong')).toEqual([403, 'ACCESS_REFUSED - login refused: wrong username or password']);

    const cloudErr = (path: string, user: string): Promise<string> =>
      new AMQPClient(`amqp://${user}@127.0.0.1:${amqpPort(h)}${path}`).connect().then(
        () => 'connected',
        (e: Error) => e.message,
      );
    expect(await cloudErr('/nope', 'ops:ops-pw')).toContain('NOT_ALLOWED - vhost nope not found');
    expect(await cloudErr('/a', 'app:app-pw')).toContain("NOT_ALLOWED - access to vhost 'a' refused for user 'app'");
    const ws = await connect(`ws://app:app-pw@127.0.0.1:${h.httpPort}/ws?vhost=a`, { heartbeatMs: 0, reconnect: false }).catch((e: ServerError) => e.message);
    expect(ws).toBe("NOT_ALLOWED - access to vhost 'a' refused for user 'app'");
  });
});

describe('permissions per vhost', () => {
  it('a grant in one vhost allows nothing in another, on the native protocol, AMQP and HTTP', async () => {
    const h = await start();
    await vhost(h, 'a');
    await vhost(h, 'b');
    expect((await h.put('/api/permissions/a/app', { configure: '^app\\.', write: '^app\\.', read: '^app\\.' }, ops)).status).toBe(201);
    expect((await h.put('/api/permissions/b/app', { configure: '', write: '', read: '' }, ops)).status).toBe(201);
    const inA = await (await open(h, '/a', 'app:app-pw')).channel();
    await inA.declareQueue('app.q');
    const inB = await (await open(h, '/b', 'app:app-pw')).channel();
    const refusal = await inB.declareQueue('app.q').catch((e: ServerError) => e.message);
    expect(refusal).toBe("ACCESS_REFUSED - configure access to queue 'app.q' in vhost 'b' refused for user 'app'");

    const lib = await amqplib.connect(`amqp://app:app-pw@127.0.0.1:${amqpPort(h)}/b`);
    const ch = await lib.createChannel();
    ch.on('error', () => undefined);
    const amqpRefusal = await ch.assertQueue('app.q').then(
      () => null,
      (e: Error) => e.message,
    );
    expect(amqpRefusal).toContain(`403 (ACCESS-REFUSED) with message "ACCESS_REFUSED - configure access to queue 'app.q' in vhost 'b' refused for user 'app'"`);
    await lib.close().catch(() => undefined);

    const app = { auth: 'app:app-pw' };
    expect((await h.put('/api/queues/a/app.h', { durable: false }, app)).status).toBe(201);
    expect(await h.put('/api/queues/b/app.h', { durable: false }, app)).toMatchObject({
      status: 403,
      json: { error: 'access_refused', reason: "configure access to queue 'app.h' in vhost 'b' refused for user 'app'" },
    });
    expect(((await h.get('/api/vhosts/a/permissions', ops)).json as { user: string }[]).map((p) => p.user).sort()).toEqual(['app', 'ops']);
    expect((await h.put('/api/permissions/nope/app', { configure: '', write: '', read: '' }, ops)).json).toEqual({ error: 'not_found', reason: "no vhost 'nope'" });
    // A plain user lists the vhosts they have access to ('/' as a config user), as in RabbitMQ's management API.
    await h.put('/api/vhosts/c', {}, ops);
    expect(((await h.get('/api/vhosts', { auth: 'app:app-pw' })).json as { name: string }[]).map((v) => v.name)).toEqual(['/', 'a', 'b']);
    expect((await h.get('/api/vhosts/c', { auth: 'app:app-pw' })).json).toEqual({ error: 'not_found', reason: "no vhost 'c'" });
  });
});

describe('deleting a vhost', () => {
  it('closes its connections with CONNECTION_FORCED, deletes everything in it, durably, and leaves the others alone', async () => {
    const dataDir = freshDataDir();
    let h = await start({ store: { dataDir } });
    await vhost(h, 'gone');
    await vhost(h, 'kept');
    const doomed = await open(h, '/gone');
    const ch = await doomed.channel();
    await ch.declareQueue('q', { durable: true });
    await ch.confirmSelect();
    await ch.publish('', 'q', 'lost with the vhost', { persistent: true });
    const kept = await (await open(h, '/kept')).channel();
    await kept.declareQueue('q', { durable: true });
    await kept.confirmSelect();
    await kept.publish('', 'q', 'kept', { persistent: true });
    expect((await h.put('/api/policies/gone/p', { pattern: '.*', definition: { 'max-length': 5 } }, ops)).status).toBe(201);
    expect((await h.put('/api/vhost-limits/gone/max-queues', { value: 10 }, ops)).status).toBe(204);

    const lib = await amqplib.connect(`amqp://ops:ops-pw@127.0.0.1:${amqpPort(h)}/gone`);
    const libClosed = new Promise<string>((resolve) => lib.on('close', (e: Error | undefined) => resolve(e?.message ?? 'no error')));
    lib.on('error', () => undefined);
    const nativeClosed = doomed.closed;

    expect((await h.del('/api/vhosts/gone', ops)).status).toBe(204);
    expect(await nativeClosed).toMatchObject({ code: 'CONNECTION_FORCED', message: "CONNECTION_FORCED - vhost 'gone' is deleted" });
    expect(await libClosed).toContain(`320 (CONNECTION-FORCED) with message "CONNECTION_FORCED - vhost 'gone' is deleted"`);
    expect((await h.get('/api/vhosts/gone', ops)).status).toBe(404);
    expect((await h.get('/api/queues/gone', ops)).json).toEqual({ error: 'not_found', reason: "no vhost 'gone'" });
    expect((await h.del('/api/vhosts/gone', ops)).json).toEqual({ error: 'not_found', reason: "no vhost 'gone'" });
    expect((await h.del('/api/vhosts/%2F', ops)).json).toEqual({ error: 'bad_request', reason: "the default vhost '/' cannot be deleted" });
    expect((await h.get('/api/vhost-limits', ops)).json).toEqual([]);
    expect((await h.get('/api/policies', ops)).json).toEqual([]);

    await h.stop();
    d = null;
    h = await start({ store: { dataDir } });
    expect(((await h.get('/api/vhosts', ops)).json as { name: string }[]).map((v) => v.name)).toEqual(['/', 'kept']);
    // Made again, the vhost is empty: the old queue and its message are gone for good.
    await vhost(h, 'gone');
    expect((await h.get('/api/queues/gone', ops)).json).toEqual([]);
    const k = await (await open(h, '/kept')).channel();
    expect((await k.get('q', { noAck: true }))?.body.toString()).toBe('kept');
  });
});

describe('vhost limits', () => {
  it("max-connections and max-queues refuse on the native and AMQP listeners alike, in RabbitMQ's words", async () => {
    const h = await start();
    await vhost(h, 'small');
    const admin = new Admin(await open(h, ''));
    await admin.setLimits('vhost', 'small', { 'max-connections': 1, 'max-queues': 1 });
    expect(await admin.limits('vhost')).toEqual([{ name: 'small', value: { 'max-connections': 1, 'max-queues': 1 } }]);
    expect((await h.get('/api/vhost-limits/small', ops)).json).toEqual([{ vhost: 'small', value: { 'max-connections': 1, 'max-queues': 1 } }]);
    const first = await (await open(h, '/small')).channel();
    const full = "NOT_ALLOWED - access to vhost 'small' refused for user 'ops': connection limit (1) is reached";
    expect(await open(h, '/small').catch((e: ServerError) => e.message)).toBe(full);
    const cloud = await new AMQPClient(`amqp://ops:ops-pw@127.0.0.1:${amqpPort(h)}/small`).connect().then(
      () => 'connected',
      (e: Error) => e.message,
    );
    expect(cloud).toContain(full);
    // Connections elsewhere do not count.
    await open(h, '');

    await first.declareQueue('one');
    expect(await first.declareQueue('two').catch((e: ServerError) => e.message)).toBe("PRECONDITION_FAILED - cannot declare queue 'two': queue limit in vhost 'small' (1) is reached");
    await admin.setLimits('vhost', 'small', { 'max-connections': -1 });
    const lib = await amqplib.connect(`amqp://ops:ops-pw@127.0.0.1:${amqpPort(h)}/small`);
    const ch = await lib.createChannel();
    ch.on('error', () => undefined);
    const refused = await ch.assertQueue('three').then(
      () => null,
      (e: Error) => e.message,
    );
    expect(refused).toContain(`406 (PRECONDITION-FAILED) with message "PRECONDITION_FAILED - cannot declare queue 'three': queue limit in vhost 'small' (1) is reached"`);
    await lib.close().catch(() => undefined);
    const bad = await admin.setLimits('vhost', 'small', { 'max-widgets': 1 }).catch((e: ServerError) => e.message);
    expect(bad).toBe("PRECONDITION_FAILED - value.max-widgets: unknown vhost limit 'max-widgets' (expected max-connections, max-queues)");
    expect(await admin.setLimits('vhost', 'nope', { 'max-queues': 1 }).catch((e: ServerError) => e.message)).toBe("NOT_FOUND - no vhost 'nope'");
  });

  it("a user's max-channels and max-connections hold on the AMQP listener as on the native one", async () => {
    const h = await start();
    const admin = new Admin(await open(h, ''));
    await admin.setPermissions('app', { configure: '.*', write: '.*', read: '.*' });
    await admin.setLimits('user', 'app', { 'max-channels': 1, 'max-connections': 2 });
    const nativeConn = await open(h, '', 'app:app-pw');
    await nativeConn.channel();
    const channelFull = "NOT_ALLOWED - number of channels opened for user 'app' has reached the maximum allowed limit of (1)";
    const second = await (await open(h, '', 'app:app-pw')).channel().catch((e: ServerError) => e.message);
    expect(second).toBe(channelFull);
    // The native connection that was refused a channel is closed (a connection error); one AMQP connection is left in the limit of 2.
    const cloud = await new AMQPClient(`amqp://app:app-pw@127.0.0.1:${amqpPort(h)}`).connect();
    const amqpChannel = await cloud.channel().then(
      () => 'opened',
      (e: Error) => e.message,
    );
    expect(amqpChannel).toContain(channelFull);
    await admin.setLimits('user', 'app', { 'max-channels': -1, 'max-connections': 1 });
    const connFull = "NOT_ALLOWED - connection refused for user 'app': user connection limit (1) is reached";
    const amqpConn = await new AMQPClient(`amqp://app:app-pw@127.0.0.1:${amqpPort(h)}`).connect().then(
      () => 'connected',
      (e: Error) => e.message,
    );
    expect(amqpConn).toContain(connFull);
  });
});

describe('topic permissions', () => {
  it('limit the routing keys of publish and bind on topic exchanges, per vhost, on both protocols', async () => {
    const h = await start();
    await vhost(h, 't', ['ops', 'app']);
    const admin = new Admin(await open(h, ''));
    await admin.setTopicPermissions('app', { exchange: 'amq.topic', write: '^{username}\\.', read: '^shared\\.' }, { vhost: 't' });
    expect(await admin.topicPermissions()).toEqual([{ user: 'app', vhost: 't', exchange: 'amq.topic', write: '^{username}\\.', read: '^shared\\.' }]);
    const ch = await (await open(h, '/t', 'app:app-pw')).channel();
    await ch.declareQueue('mine');
    await ch.bindQueue('mine', 'amq.topic', 'shared.#');
    expect(await ch.bindQueue('mine', 'amq.topic', 'other.#').catch((e: ServerError) => e.message)).toBe(
      "ACCESS_REFUSED - read access to topic 'other.#' in exchange 'amq.topic' in vhost 't' refused for user 'app'",
    );
    const pub = await (await open(h, '/t', 'app:app-pw')).channel();
    await pub.confirmSelect();
    await pub.publish('amq.topic', 'app.news', 'allowed');
    const refused = await pub.publish('amq.topic', 'shared.news', 'not mine').catch((e: ServerError) => e.message);
    expect(refused).toBe("ACCESS_REFUSED - write access to topic 'shared.news' in exchange 'amq.topic' in vhost 't' refused for user 'app'");
    // A direct exchange is not limited; neither is the same user in '/'.
    const direct = await (await open(h, '/t', 'app:app-pw')).channel();
    await direct.confirmSelect();
    await direct.publish('amq.direct', 'shared.news', 'fine');

    const lib = await amqplib.connect(`amqp://app:app-pw@127.0.0.1:${amqpPort(h)}/t`);
    const lc = await lib.createConfirmChannel();
    lc.on('error', () => undefined);
    const closed = new Promise<string>((resolve) => lc.on('close', () => resolve('closed')));
    const err = new Promise<string>((resolve) => lc.on('error', (e: Error) => resolve(e.message)));
    lc.publish('amq.topic', 'shared.x', Buffer.from('no'));
    expect(await err).toContain("ACCESS_REFUSED - write access to topic 'shared.x' in exchange 'amq.topic' in vhost 't' refused for user 'app'");
    await closed;
    await lib.close().catch(() => undefined);

    // Over HTTP too; clearing them lifts the limit for new connections.
    const pubBody = { routing_key: 'shared.web', payload: 'p', payload_encoding: 'string', properties: {} };
    expect(await h.post('/api/exchanges/t/amq.topic/publish', pubBody, { auth: 'app:app-pw' })).toMatchObject({
      status: 403,
      json: { error: 'access_refused', reason: "write access to topic 'shared.web' in exchange 'amq.topic' in vhost 't' refused for user 'app'" },
    });
    expect(await h.post('/api/bindings/t/e/amq.topic/q/mine', { routing_key: 'nope.#' }, { auth: 'app:app-pw' })).toMatchObject({
      status: 403,
      json: { reason: "read access to topic 'nope.#' in exchange 'amq.topic' in vhost 't' refused for user 'app'" },
    });
    expect((await h.get('/api/topic-permissions/t/app', ops)).json).toEqual([{ user: 'app', vhost: 't', exchange: 'amq.topic', write: '^{username}\\.', read: '^shared\\.' }]);
    expect((await h.put('/api/topic-permissions/t/app', { exchange: 'amq.topic', write: '(' , read: '' }, ops)).json).toMatchObject({ error: 'bad_request' });
    expect((await h.del('/api/topic-permissions/t/app', ops)).status).toBe(204);
    const after = await (await open(h, '/t', 'app:app-pw')).channel();
    await after.confirmSelect();
    await after.publish('amq.topic', 'shared.news', 'now allowed');
  });
});

describe('definitions across vhosts', () => {
  it('imports vhosts and the entries of each, all or nothing, and exports them back', async () => {
    const h = await start();
    const doc = {
      rabbit_version: '3.13.0',
      vhosts: [{ name: '/' }, { name: 'imp', metadata: { description: 'imported', tags: ['x'] } }],
      permissions: [{ user: 'ops', vhost: 'imp', configure: '.*', write: '.*', read: '.*' }],
      topic_permissions: [{ user: 'app', vhost: 'imp', exchange: 'amq.topic', write: '^a', read: '^a' }],
      policies: [{ vhost: 'imp', name: 'p', pattern: '^q$', 'apply-to': 'queues', priority: 0, definition: { 'max-length': 7 } }],
      exchanges: [
        { vhost: '/', name: 'x', type: 'direct', durable: true, auto_delete: false, internal: false, arguments: {} },
        { vhost: 'imp', name: 'x', type: 'fanout', durable: true, auto_delete: false, internal: false, arguments: {} },
      ],
      queues: [
        { vhost: '/', name: 'q', durable: true, auto_delete: false, arguments: {} },
        { vhost: 'imp', name: 'q', durable: true, auto_delete: false, arguments: { 'x-queue-type': 'classic' } },
      ],
      bindings: [{ vhost: 'imp', source: 'x', destination: 'q', destination_type: 'queue', routing_key: '', arguments: {} }],
    };
    const r = await h.post('/api/definitions', doc, ops);
    expect([r.status, r.json]).toEqual([200, { users: 0, vhosts: 1, permissions: 1, topicPermissions: 1, policies: 1, exchanges: 2, queues: 2, bindings: 1, warnings: [] }]);
    expect(((await h.get('/api/exchanges/imp/x', ops)).json as Record<string, unknown>)['type']).toBe('fanout');
    expect(((await h.get('/api/exchanges/%2F/x', ops)).json as Record<string, unknown>)['type']).toBe('direct');
    expect(((await h.get('/api/queues/imp/q', ops)).json as Record<string, unknown>)['policy']).toBe('p');
    const v = (await h.get('/api/vhosts/imp', ops)).json as Record<string, unknown>;
    expect([v['description'], v['tags']]).toEqual(['imported', ['x']]);
    const ch = await (await open(h, '/imp')).channel();
    await ch.publish('x', '', 'routed in imp');
    expect((await ch.get('q', { noAck: true }))?.body.toString()).toBe('routed in imp');

    const all = (await h.get('/api/definitions', ops)).json as { vhosts: { name: string }[]; queues: { vhost: string; name: string }[]; policies: { vhost: string }[] };
    expect(all.vhosts.map((x) => x.name)).toEqual(['/', 'imp']);
    expect(all.queues.map((q) => `${q.vhost} ${q.name}`)).toEqual(['/ q', 'imp q']);
    expect(all.policies.map((p) => p.vhost)).toEqual(['imp']);
    expect(((await h.get('/api/definitions/imp', ops)).json as { queues: unknown[] }).queues).toEqual([{ name: 'q', durable: true, auto_delete: false, arguments: {} }]);

    // A conflict in the second vhost leaves nothing of the document, the new vhost included.
    const conflict = {
      vhosts: [{ name: 'fresh' }],
      queues: [
        { vhost: 'fresh', name: 'n', durable: true, arguments: {} },
        { vhost: 'imp', name: 'q', durable: false, arguments: {} },
      ],
    };
    const c = await h.post('/api/definitions', conflict, ops);
    expect([c.status, c.json.errors]).toEqual([
      400,
      [{ path: 'queues[1]', message: "406 PRECONDITION_FAILED - inequivalent arg 'durable' for queue 'q' in vhost 'imp': received 'false' but current is 'true'" }],
    ]);
    expect((await h.get('/api/vhosts/fresh', ops)).status).toBe(404);
    // Importing into one vhost takes that vhost's entries only.
    const pinned = await h.post('/api/definitions/imp', { queues: [{ vhost: '/', name: 'z', durable: true }] }, ops);
    expect(pinned.json.errors).toEqual([{ path: 'queues[0].vhost', message: "'/' is not the vhost this import is for ('imp'); POST to /api/definitions to import several vhosts" }]);
    // Making vhosts needs an administrator.
    expect((await h.post('/api/definitions', { vhosts: [{ name: 'mine' }] }, { auth: 'app:app-pw' })).json).toEqual({
      error: 'access_refused',
      reason: "user 'app' is not an administrator; creating vhosts needs the administrator tag",
    });
  });
});

describe('the CLI', () => {
  it('adds, lists and deletes vhosts, and works in one with --vhost or the URL path', async () => {
    const h = await start();
    const base = ['--url', `skiff://ops:ops-pw@127.0.0.1:${h.daemon.port}`];
    expect(await skiff(['vhost', 'add', 'cli', '--description', 'from the CLI', ...base])).toMatchObject({ code: 0, stdout: 'vhost cli created\n' });
    expect(await skiff(['permissions', 'set', 'ops', '.*', '.*', '.*', '--vhost', 'cli', ...base])).toMatchObject({ code: 0, stdout: "permissions of ops on cli: configure '.*', write '.*', read '.*'\n" });
    expect((await skiff(['declare', 'queue', 'in-cli', '--vhost', 'cli', ...base])).code).toBe(0);
    const list = await skiff(['list', 'queues', '--json', '--url', `skiff://ops:ops-pw@127.0.0.1:${h.daemon.port}/cli`]);
    expect((JSON.parse(list.stdout) as { name: string }[]).map((q) => q.name)).toEqual(['in-cli']);
    expect(JSON.parse((await skiff(['list', 'queues', '--json', ...base])).stdout)).toEqual([]);
    const vhosts = JSON.parse((await skiff(['list', 'vhosts', '--json', ...base])).stdout) as { name: string; description: string; queues: number }[];
    expect(vhosts.map((v) => [v.name, v.description, v.queues])).toEqual([
      ['/', 'Default virtual host', 0],
      ['cli', 'from the CLI', 1],
    ]);
    expect(await skiff(['limits', 'set', 'vhost', 'cli', '{"max-queues":1}', ...base])).toMatchObject({ code: 0, stdout: 'limits of vhost cli set: {"max-queues":1}\n' });
    const refused = await skiff(['declare', 'queue', 'second', '--vhost', 'cli', ...base]);
    expect([refused.code === 0, refused.stderr]).toEqual([false, "skiff: PRECONDITION_FAILED - cannot declare queue 'second': queue limit in vhost 'cli' (1) is reached\n"]);
    const unknown = await skiff(['declare', 'queue', 'x', '--vhost', 'nope', ...base]);
    expect(unknown.stderr).toBe('skiff: NOT_ALLOWED - vhost nope not found\n');
    expect(await skiff(['vhost', 'delete', 'cli', ...base])).toMatchObject({ code: 0, stdout: 'vhost cli deleted\n' });
    expect((await skiff(['vhost', 'delete', 'cli', ...base])).stderr).toBe("skiff: NOT_FOUND - no vhost 'cli'\n");
  });
});

describe('an old store', () => {
  it('(schema version 2, before vhosts) migrates into / with its queues, messages, bindings and policies', async () => {
    const dataDir = freshDataDir();
    let h = await start({ store: { dataDir } });
    const ch = await (await open(h, '')).channel();
    await ch.declareExchange('old.x', 'direct', { durable: true });
    await ch.declareQueue('old.q', { durable: true });
    await ch.bindQueue('old.q', 'old.x', 'k');
    await ch.confirmSelect();
    await ch.publish('old.x', 'k', 'from before vhosts', { persistent: true });
    expect((await h.put('/api/policies/%2F/old', { pattern: '^old\\.', definition: { 'max-length': 9 }, 'apply-to': 'queues' }, ops)).status).toBe(201);
    await h.stop();
    d = null;
    downgradeToVersion2(join(dataDir, 'topology.db'));

    h = await start({ store: { dataDir } });
    const again = await (await open(h, '')).channel();
    await again.publish('old.x', 'k', 'after');
    expect((await again.get('old.q', { noAck: true }))?.body.toString()).toBe('from before vhosts');
    expect((await again.get('old.q', { noAck: true }))?.body.toString()).toBe('after');
    expect(((await h.get('/api/queues/%2F/old.q', ops)).json as Record<string, unknown>)['policy']).toBe('old');
    expect(((await h.get('/api/vhosts', ops)).json as { name: string }[]).map((v) => v.name)).toEqual(['/']);
  });
});

/** Rewrites a topology file as a skiff of schema version 2 wrote it: no vhost columns, policies keyed by name. */
function downgradeToVersion2(file: string): void {
  const db = new Database(file);
  db.exec(`
    CREATE TABLE e2 (name TEXT PRIMARY KEY, type TEXT NOT NULL, auto_delete INTEGER NOT NULL, internal INTEGER NOT NULL, arguments TEXT NOT NULL);
    INSERT INTO e2 SELECT name, type, auto_delete, internal, arguments FROM exchanges;
    DROP TABLE exchanges; ALTER TABLE e2 RENAME TO exchanges;
    CREATE TABLE q2 (name TEXT PRIMARY KEY, qid INTEGER NOT NULL UNIQUE, shard INTEGER NOT NULL, auto_delete INTEGER NOT NULL, arguments TEXT NOT NULL);
    INSERT INTO q2 SELECT name, qid, shard, auto_delete, arguments FROM queues;
    DROP TABLE queues; ALTER TABLE q2 RENAME TO queues;
    CREATE TABLE b2 (exchange TEXT NOT NULL, queue TEXT NOT NULL, routing_key TEXT NOT NULL, arguments TEXT NOT NULL, PRIMARY KEY (exchange, queue, routing_key, arguments));
    INSERT INTO b2 SELECT exchange, queue, routing_key, arguments FROM bindings;
    DROP TABLE bindings; ALTER TABLE b2 RENAME TO bindings; CREATE INDEX bindings_by_queue ON bindings (queue);
    CREATE TABLE x2 (source TEXT NOT NULL, destination TEXT NOT NULL, routing_key TEXT NOT NULL, arguments TEXT NOT NULL, PRIMARY KEY (source, destination, routing_key, arguments));
    INSERT INTO x2 SELECT source, destination, routing_key, arguments FROM exchange_bindings;
    DROP TABLE exchange_bindings; ALTER TABLE x2 RENAME TO exchange_bindings; CREATE INDEX exchange_bindings_by_destination ON exchange_bindings (destination);
    DELETE FROM settings WHERE kind = 'vhost';
  `);
  // SQLite's string functions stop at NUL, so the keys are rewritten here.
  const rows = db.prepare("SELECT kind, key FROM settings WHERE kind IN ('policy', 'operator-policy')").all() as { kind: string; key: string }[];
  for (const r of rows) db.prepare('UPDATE settings SET key = ? WHERE kind = ? AND key = ?').run(r.key.slice(r.key.indexOf('\u0000') + 1), r.kind, r.key);
  db.pragma('user_version = 2');
  db.close();
}
