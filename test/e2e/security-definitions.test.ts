import { readFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Admin, ServerError, connect, type Connection } from '../../src/client/index.js';
import { startHttpDaemon, users, type HttpDaemon } from '../helpers/http.js';

/**
 * Definitions import of RabbitMQ's real export (test/fixtures/rabbitmq-3.10-definitions.json, made
 * with Debian's rabbitmq-server 3.10.8 and `rabbitmqctl export_definitions`; 3.12 and 3.13 write
 * the same keys for everything in it): what Skiff has is imported, what it lacks is a warning by
 * path, an error anywhere changes nothing.
 */

const FIXTURE = JSON.parse(readFileSync(new URL('../fixtures/rabbitmq-3.10-definitions.json', import.meta.url), 'utf8')) as Record<string, unknown>;
const REFUSED = 'ACCESS_REFUSED - login refused: wrong username or password';

let d: HttpDaemon;
const opened: Connection[] = [];

beforeEach(async () => {
  expect.hasAssertions();
  d = await startHttpDaemon({ auth: await users([{ name: 'app', password: 'app-pw', admin: false }]), loginThrottle: { delayMs: 0 } });
});
afterEach(async () => {
  await Promise.all(opened.splice(0).map((c) => c.close().catch(() => undefined)));
  await d.stop();
});

async function login(user: string, password: string): Promise<Connection> {
  const c = await connect(`skiff://${user}:${password}@127.0.0.1:${d.daemon.port}`, { heartbeatMs: 0, reconnect: false });
  opened.push(c);
  return c;
}

describe("RabbitMQ's export", () => {
  it('imports users, exchanges, queues and bindings; warns by path about what Skiff does not have', async () => {
    const r = await d.post('/api/definitions', FIXTURE);
    expect(r.status).toBe(200);
    expect(r.json).toEqual({
      users: 3,
      vhosts: 0,
      permissions: 3,
      topicPermissions: 1,
      policies: 2,
      exchanges: 3,
      queues: 3,
      bindings: 4,
      warnings: [],
    });
    expect((await d.get('/api/topic-permissions')).json).toEqual([{ user: 'orders-svc', vhost: '/', exchange: 'amq.topic', write: '^orders\\..*', read: '^orders\\..*' }]);

    // The users log in with the passwords they had in RabbitMQ, with their tags.
    const ops = new Admin(await login('ops', 'ops-secret'));
    expect(await ops.users()).toEqual([
      { name: 'guest', tags: ['administrator'], source: 'builtin' },
      { name: 'app', tags: [], source: 'config' },
      { name: 'ops', tags: ['administrator'], source: 'runtime' },
      { name: 'orders-svc', tags: [], source: 'runtime' },
      { name: 'watcher', tags: ['monitoring'], source: 'runtime' },
    ]);
    expect((await new Admin(await login('watcher', 'watch-pw')).status()).queues).toBeGreaterThanOrEqual(3);
    const wrong = await connect(`skiff://ops:wrong@127.0.0.1:${d.daemon.port}`, { reconnect: false }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(wrong).toBeInstanceOf(ServerError);
    expect((wrong as ServerError).message).toBe(REFUSED);

    // The policy and the operator policy (a runtime parameter in RabbitMQ's export) apply to the imported queues.
    const row = (await d.get('/api/queues/%2F/orders.created', { auth: 'ops:ops-secret' })).json as Record<string, unknown>;
    expect([row['policy'], row['operator_policy'], row['effective_policy_definition']]).toEqual(['ttl-orders', 'cap-all', { 'max-length': 10000, 'message-ttl': 60000 }]);
    // The topology routes as it did there: orders → orders.created, and orders → audit → audit.log.
    const opsCh = await (await login('ops', 'ops-secret')).channel();
    await opsCh.publish('orders', 'orders.created.42', 'an order');
    expect((await opsCh.get('audit.log', { noAck: true }))?.body.toString()).toBe('an order');
    // And the permissions came along: orders-svc reads its queues and may not touch others.
    const ch = await (await login('orders-svc', 'orders-pw')).channel();
    expect((await ch.get('orders.created', { noAck: true }))?.body.toString()).toBe('an order');
    const denied = await ch.deleteQueue('audit.log').then(
      () => null,
      (e: unknown) => e,
    );
    expect((denied as ServerError).message).toBe("ACCESS_REFUSED - configure access to queue 'audit.log' in vhost '/' refused for user 'orders-svc'");
    expect((await ops.queues()).find((q) => q.name === 'orders.created')?.arguments).toEqual({ 'x-dead-letter-exchange': 'orders.dlx', 'x-message-ttl': 30000 });

    // The vhost's connection limit came along too.
    expect((await d.get('/api/vhost-limits/%2F')).json).toEqual([{ vhost: '/', value: { 'max-connections': 500 } }]);

    // Importing it again changes nothing and succeeds.
    expect((await d.post('/api/definitions', FIXTURE)).status).toBe(200);
  });

  it('is all or nothing: a conflict in the last queue leaves no exchange, queue, binding or user of the document', async () => {
    const ch = await (await d.client()).channel();
    await ch.declareQueue('taken', { durable: true });
    const doc = {
      rabbit_version: '3.12.0',
      users: [{ name: 'newbie', password_hash: FIXTURE_HASH, hashing_algorithm: 'rabbit_password_hashing_sha256', tags: '' }],
      exchanges: [{ name: 'fresh.x', vhost: '/', type: 'direct', durable: true, auto_delete: false, internal: false, arguments: {} }],
      queues: [
        { name: 'fresh.q', vhost: '/', durable: true, auto_delete: false, arguments: {} },
        { name: 'taken', vhost: '/', durable: false, auto_delete: false, arguments: {} },
      ],
      bindings: [{ source: 'fresh.x', vhost: '/', destination: 'fresh.q', destination_type: 'queue', routing_key: 'k', arguments: {} }],
    };
    const r = await d.post('/api/definitions', doc);
    expect([r.status, r.json]).toEqual([
      400,
      {
        error: 'bad_request',
        reason: "queues[1]: 406 PRECONDITION_FAILED - inequivalent arg 'durable' for queue 'taken' in vhost '/': received 'false' but current is 'true'",
        errors: [{ path: 'queues[1]', message: "406 PRECONDITION_FAILED - inequivalent arg 'durable' for queue 'taken' in vhost '/': received 'false' but current is 'true'" }],
        warnings: [],
      },
    ]);
    expect((await d.get('/api/exchanges/%2F/fresh.x')).status).toBe(404);
    expect((await d.get('/api/queues/%2F/fresh.q')).status).toBe(404);
    expect((await d.get('/api/users/newbie')).status).toBe(404);
  });

  it('lists every error by path at once, and applies nothing', async () => {
    const doc = {
      rabbit_version: '3.13.0',
      users: [{ name: 'x', password_hash: 'short', hashing_algorithm: 'rabbit_password_hashing_sha256', tags: ['wizard'] }],
      vhosts: [{ name: '/' }, { name: 'tenant-a' }, { name: '' }],
      exchanges: [{ name: 'ok.x', vhost: '/', type: 'x-delayed-message', durable: true, arguments: {} }],
      queues: [
        { name: 'qq', vhost: '/', type: 'quorum', durable: true, arguments: { 'x-queue-type': 'quorum' } },
        { name: 'elsewhere', vhost: 'tenant-a', durable: true, arguments: {} },
        { name: 'lost', vhost: 'tenant-b', durable: true, arguments: {} },
      ],
      bindings: [{ source: 'ok.x', vhost: '/', destination: 'missing', destination_type: 'queue', routing_key: '', arguments: {} }],
    };
    const r = await d.post('/api/definitions', doc);
    expect(r.status).toBe(400);
    expect(r.json.errors).toEqual([
      { path: 'users[0]', message: "user 'x': password hash must decode to 36 bytes (a 4-byte salt and a sha256 digest), got 3" },
      { path: 'vhosts[2]', message: 'a vhost name must be a non-empty string' },
      { path: 'exchanges[0].arguments.x-delayed-type', message: "Invalid argument, 'x-delayed-type' must be an existing exchange type" },
      { path: 'queues[0].type', message: 'quorum queues are not supported (only classic and stream)' },
      { path: 'queues[2].vhost', message: "no vhost 'tenant-b' in the daemon or the document" },
      { path: 'bindings[0].destination', message: "no queue 'missing' in vhost '/' of the broker or the document" },
    ]);
    expect(r.json.reason).toMatch(/^6 problems: users\[0\]: user 'x': password hash must decode to 36 bytes/);
    // Nothing of it was applied: not the vhost the document makes, not the queue in it.
    expect((await d.get('/api/vhosts/tenant-a')).status).toBe(404);
    expect((await d.get('/api/queues/%2F/elsewhere')).status).toBe(404);
    expect((await d.get('/api/exchanges/%2F/ok.x')).status).toBe(404);
  });

  it('importing users needs an administrator; topology alone does not', async () => {
    const app = { auth: 'app:app-pw' };
    const r = await d.post('/api/definitions', FIXTURE, app);
    expect([r.status, r.json]).toEqual([403, { error: 'access_refused', reason: "user 'app' is not an administrator; importing users and permissions needs the administrator tag" }]);
    const t = await d.post('/api/definitions', { exchanges: FIXTURE['exchanges'] }, app);
    expect([t.status, t.json.exchanges]).toEqual([200, 3]);
  });
});

/** ops-secret's hash from the fixture: a real RabbitMQ SHA-256 hash. */
const FIXTURE_HASH = ((FIXTURE['users'] as { name: string; password_hash: string }[]).find((u) => u.name === 'ops') as { password_hash: string }).password_hash;
