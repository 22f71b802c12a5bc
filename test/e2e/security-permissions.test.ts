import amqplib from 'amqplib';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Admin, ServerError, connect, type Channel, type Connection } from '../../src/client/index.js';
import { startHttpDaemon, users, type HttpDaemon } from '../helpers/http.js';

/**
 * The permission matrix: every operation, allowed and refused, on the native protocol and the
 * HTTP API, with RabbitMQ's meaning (configure: declare/delete; write: publish to an exchange,
 * bind to a queue or exchange; read: consume/get/purge a queue, bind from an exchange) and its
 * words. `app` may configure `app.*`, write `app.*` and read `app.*`; `nobody` may use the vhost
 * but its expressions match nothing (`''`); `stranger` was never granted anything and may not
 * even open the vhost; config users (`ops`) and the guest keep full access to `/`.
 */

let d: HttpDaemon;
let ops: Channel;
const conns: Connection[] = [];
const refused = (op: string, kind: string, name: string, user = 'app'): string => `${op} access to ${kind} '${name}' in vhost '/' refused for user '${user}'`;

beforeAll(async () => {
  d = await startHttpDaemon({ auth: await users([{ name: 'ops', password: 'ops-pw', admin: true }]), loginThrottle: { delayMs: 0 } });
  const admin = new Admin(await open('ops:ops-pw'));
  await admin.putUser('app', { password: 'app-pw' });
  await admin.putUser('nobody', { password: 'nobody-pw' });
  await admin.putUser('stranger', { password: 'stranger-pw' });
  await admin.setPermissions('app', { configure: '^app\\.', write: '^app\\.', read: '^app\\.' });
  await admin.setPermissions('nobody', { configure: '', write: '', read: '' });
  ops = await (await open('ops:ops-pw')).channel();
  for (const q of ['app.q', 'other.q']) await ops.declareQueue(q);
  for (const x of ['app.x', 'other.x']) await ops.declareExchange(x, 'direct');
  await ops.publish('', 'other.q', 'm');
});
afterAll(async () => {
  await Promise.all(conns.map((c) => c.close().catch(() => undefined)));
  await d.stop();
});
beforeEach(() => {
  expect.hasAssertions();
});

async function open(user: string): Promise<Connection> {
  const c = await connect(`skiff://${user}@127.0.0.1:${d.daemon.port}`, { heartbeatMs: 0, reconnect: false });
  conns.push(c);
  return c;
}

/** Runs `op` on a fresh channel of `user`: null when allowed, else the channel's close text. */
async function native(user: string, op: (ch: Channel) => Promise<unknown>): Promise<string | null> {
  const ch = await (await open(user)).channel();
  return op(ch).then(
    () => null,
    (e: unknown) => {
      expect(e).toBeInstanceOf(ServerError);
      return (e as ServerError).message;
    },
  );
}

describe('native protocol', () => {
  const cases: [string, (ch: Channel) => Promise<unknown>, string | null, string | null][] = [
    // name, operation, app's refusal (null = allowed), nobody's refusal
    ['declare queue', (ch) => ch.declareQueue('app.new'), null, refused('configure', 'queue', 'app.new', 'nobody')],
    ['declare other queue', (ch) => ch.declareQueue('other.new'), refused('configure', 'queue', 'other.new'), refused('configure', 'queue', 'other.new', 'nobody')],
    ['passive declare', (ch) => ch.declareQueue('other.q', { passive: true }), null, null],
    ['declare exchange', (ch) => ch.declareExchange('other.nx', 'fanout'), refused('configure', 'exchange', 'other.nx'), refused('configure', 'exchange', 'other.nx', 'nobody')],
    ['server-named queue', (ch) => ch.declareQueue(''), refused('configure', 'queue', 'amq.gen-'), refused('configure', 'queue', 'amq.gen-', 'nobody')],
    ['delete queue', (ch) => ch.deleteQueue('other.q'), refused('configure', 'queue', 'other.q'), refused('configure', 'queue', 'other.q', 'nobody')],
    ['delete exchange', (ch) => ch.deleteExchange('other.x'), refused('configure', 'exchange', 'other.x'), refused('configure', 'exchange', 'other.x', 'nobody')],
    ['bind app.q to app.x', (ch) => ch.bindQueue('app.q', 'app.x', 'k'), null, refused('write', 'queue', 'app.q', 'nobody')],
    ['bind app.q to other.x', (ch) => ch.bindQueue('app.q', 'other.x', 'k'), refused('read', 'exchange', 'other.x'), refused('write', 'queue', 'app.q', 'nobody')],
    ['bind other.q to app.x', (ch) => ch.bindQueue('other.q', 'app.x', 'k'), refused('write', 'queue', 'other.q'), refused('write', 'queue', 'other.q', 'nobody')],
    ['exchange to exchange', (ch) => ch.bindExchange('other.x', 'app.x', 'k'), refused('write', 'exchange', 'other.x'), refused('write', 'exchange', 'other.x', 'nobody')],
    ['get app.q', (ch) => ch.get('app.q'), null, refused('read', 'queue', 'app.q', 'nobody')],
    ['get other.q', (ch) => ch.get('other.q'), refused('read', 'queue', 'other.q'), refused('read', 'queue', 'other.q', 'nobody')],
    ['consume other.q', (ch) => ch.consume('other.q', () => undefined), refused('read', 'queue', 'other.q'), refused('read', 'queue', 'other.q', 'nobody')],
    ['purge other.q', (ch) => ch.purgeQueue('other.q'), refused('read', 'queue', 'other.q'), refused('read', 'queue', 'other.q', 'nobody')],
    // Publishing is refused by closing the channel; the confirm says so.
    [
      'publish to other.x',
      async (ch) => {
        await ch.confirmSelect();
        await ch.publish('other.x', 'k', 'x');
      },
      refused('write', 'exchange', 'other.x'),
      refused('write', 'exchange', 'other.x', 'nobody'),
    ],
    [
      'publish to the default exchange',
      async (ch) => {
        await ch.confirmSelect();
        await ch.publish('', 'app.q', 'x');
      },
      refused('write', 'exchange', 'amq.default'),
      refused('write', 'exchange', 'amq.default', 'nobody'),
    ],
  ];
  for (const [name, op, forApp, forNobody] of cases) {
    it(name, async () => {
      expect(await native('app:app-pw', op)).toBe(forApp === null ? null : `ACCESS_REFUSED - ${forApp}`);
      expect(await native('nobody:nobody-pw', op)).toBe(forNobody === null ? null : `ACCESS_REFUSED - ${forNobody}`);
      // Config users keep full access.
      expect(await native('ops:ops-pw', (ch) => ch.declareQueue('other.q', { passive: true }))).toBeNull();
    });
  }

  it('publishing to an exchange the user may write goes through', async () => {
    const ch = await (await open('app:app-pw')).channel();
    await ch.bindQueue('app.q', 'app.x', 'pub');
    await ch.confirmSelect();
    await ch.publish('app.x', 'pub', 'hello');
    expect((await ch.get('app.q', { noAck: true }))?.body.toString()).toBe('hello');
  });

  it('a user without permissions on the vhost cannot open it (NOT_ALLOWED, as RabbitMQ)', async () => {
    const err = await open('stranger:stranger-pw').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ServerError);
    expect([(err as ServerError).replyCode, (err as ServerError).message]).toEqual([530, "NOT_ALLOWED - access to vhost '/' refused for user 'stranger'"]);
  });

  it('a change of permissions applies to new connections', async () => {
    const admin = new Admin(await open('ops:ops-pw'));
    await admin.setPermissions('nobody', { configure: '', write: '', read: '^other\\.q$' });
    expect(await native('nobody:nobody-pw', (ch) => ch.get('other.q', { noAck: false }))).toBeNull();
    expect((await admin.permissions()).find((p) => p.user === 'nobody')).toEqual({ user: 'nobody', vhost: '/', configure: '', write: '', read: '^other\\.q$' });
    await admin.setPermissions('nobody', { configure: '', write: '', read: '' });
    expect(await native('nobody:nobody-pw', (ch) => ch.get('other.q'))).toBe(`ACCESS_REFUSED - ${refused('read', 'queue', 'other.q', 'nobody')}`);
    await admin.clearPermissions('nobody');
    expect(await open('nobody:nobody-pw').catch((e: ServerError) => e.message)).toBe("NOT_ALLOWED - access to vhost '/' refused for user 'nobody'");
    await admin.setPermissions('nobody', { configure: '', write: '', read: '' });
    const bad = await admin.setPermissions('nobody', { configure: '(', write: '', read: '' }).catch((e: ServerError) => e.message);
    expect(bad).toMatch(/^PRECONDITION_FAILED - permission\.configure: not a valid regular expression: /);
    const missing = await admin.setPermissions('ghost', { configure: '', write: '', read: '' }).catch((e: ServerError) => e.message);
    expect(missing).toBe("NOT_FOUND - no user 'ghost'");
  });
});

describe('AMQP 0-9-1 (amqplib)', () => {
  /** Runs `op` on a fresh amqplib channel of `user`: null when allowed, else the channel's close text. */
  async function amqp(user: string, op: (ch: amqplib.Channel) => Promise<unknown>): Promise<string | null> {
    const c = await amqplib.connect(`amqp://${user}@127.0.0.1:${d.daemon.amqp?.address?.port ?? 0}`);
    try {
      const ch = await c.createChannel();
      ch.on('error', () => undefined);
      return await op(ch).then(
        () => null,
        (e: Error) => e.message,
      );
    } finally {
      await c.close().catch(() => undefined);
    }
  }
  // amqplib prefixes the failed operation ("Operation failed: QueueDelete; ").
  const closed = (text: string): unknown => expect.stringContaining(`403 (ACCESS-REFUSED) with message "ACCESS_REFUSED - ${text}"`);

  it('the same permissions, with the same words, on the AMQP listener', async () => {
    expect(await amqp('app:app-pw', (ch) => ch.assertQueue('app.amqp'))).toBeNull();
    expect(await amqp('app:app-pw', (ch) => ch.deleteQueue('other.q'))).toEqual(closed(refused('configure', 'queue', 'other.q')));
    expect(await amqp('app:app-pw', (ch) => ch.get('other.q'))).toEqual(closed(refused('read', 'queue', 'other.q')));
    expect(await amqp('app:app-pw', (ch) => ch.bindQueue('app.q', 'other.x', 'k'))).toEqual(closed(refused('read', 'exchange', 'other.x')));
    expect(await amqp('nobody:nobody-pw', (ch) => ch.assertExchange('app.ax', 'fanout'))).toEqual(closed(refused('configure', 'exchange', 'app.ax', 'nobody')));
    expect(await amqp('ops:ops-pw', (ch) => ch.checkQueue('other.q'))).toBeNull();
    // No permissions on the vhost: connection.open is refused, as RabbitMQ refuses it.
    const open = await amqplib.connect(`amqp://stranger:stranger-pw@127.0.0.1:${d.daemon.amqp?.address?.port ?? 0}`).catch((e: Error) => e.message);
    expect(open).toContain('Expected ConnectionOpenOk; got <ConnectionClose');
  });
});

describe('HTTP API', () => {
  const app = { auth: 'app:app-pw' };
  const denied = (op: string, kind: string, name: string) => ({ status: 403, json: { error: 'access_refused', reason: refused(op, kind, name) } });
  const call = async (method: 'put' | 'del' | 'post', path: string, body?: unknown): Promise<{ status: number; json: unknown }> => {
    const r = method === 'del' ? await d.del(path, app) : await d[method](path, body ?? {}, app);
    return { status: r.status, json: r.json };
  };

  it('declare, delete, purge, bind, publish and get: allowed on app.*, refused elsewhere with RabbitMQ\'s words', async () => {
    expect((await call('put', '/api/queues/%2F/app.h', { durable: false })).status).toBe(201);
    expect(await call('put', '/api/queues/%2F/other.h', { durable: false })).toEqual(denied('configure', 'queue', 'other.h'));
    expect((await call('put', '/api/exchanges/%2F/app.hx', { type: 'fanout' })).status).toBe(201);
    expect(await call('put', '/api/exchanges/%2F/other.hx', { type: 'fanout' })).toEqual(denied('configure', 'exchange', 'other.hx'));
    expect(await call('del', '/api/queues/%2F/other.q')).toEqual(denied('configure', 'queue', 'other.q'));
    expect(await call('del', '/api/exchanges/%2F/other.x')).toEqual(denied('configure', 'exchange', 'other.x'));
    expect(await call('del', '/api/queues/%2F/other.q/contents')).toEqual(denied('read', 'queue', 'other.q'));
    expect((await call('post', '/api/bindings/%2F/e/app.hx/q/app.h', { routing_key: '' })).status).toBe(201);
    expect(await call('post', '/api/bindings/%2F/e/other.x/q/app.h', { routing_key: '' })).toEqual(denied('read', 'exchange', 'other.x'));
    expect(await call('post', '/api/bindings/%2F/e/app.hx/q/other.q', { routing_key: '' })).toEqual(denied('write', 'queue', 'other.q'));
    const pub = { routing_key: '', payload: 'p', payload_encoding: 'string', properties: {} };
    expect(await call('post', '/api/exchanges/%2F/app.hx/publish', pub)).toEqual({ status: 200, json: { routed: true } });
    expect(await call('post', '/api/exchanges/%2F/other.x/publish', pub)).toEqual(denied('write', 'exchange', 'other.x'));
    const get = { count: 1, ackmode: 'ack_requeue_false', encoding: 'auto' };
    expect((await call('post', '/api/queues/%2F/app.h/get', get)).status).toBe(200);
    expect(await call('post', '/api/queues/%2F/other.q/get', get)).toEqual(denied('read', 'queue', 'other.q'));
    expect(await call('post', '/api/definitions', { queues: [{ name: 'other.def', durable: false }] })).toEqual({
      status: 400,
      json: expect.objectContaining({ errors: [{ path: 'queues[0]', message: refused('configure', 'queue', 'other.def') }] }),
    });
  });

  it('PUT, GET and DELETE /api/permissions/{vhost}/{user}', async () => {
    expect((await d.put('/api/permissions/%2F/stranger', { configure: '^n\\.', write: '', read: '' }, { auth: 'ops:ops-pw' })).status).toBe(201);
    expect((await d.get('/api/permissions/%2F/stranger', { auth: 'ops:ops-pw' })).json).toEqual({ user: 'stranger', vhost: '/', configure: '^n\\.', write: '', read: '' });
    expect((await d.put('/api/permissions/%2F/nobody', { configure: '', write: '' }, { auth: 'ops:ops-pw' })).json).toEqual({
      error: 'bad_request',
      reason: 'body.read: is required and must be a string (a regular expression)',
    });
    expect((await d.put('/api/permissions/%2F/nobody', { configure: '', write: '', read: '' }, app)).status).toBe(403);
    expect((await d.del('/api/permissions/%2F/stranger', { auth: 'ops:ops-pw' })).status).toBe(204);
    expect((await d.get('/api/permissions/%2F/stranger', { auth: 'ops:ops-pw' })).status).toBe(404);
  });
});
