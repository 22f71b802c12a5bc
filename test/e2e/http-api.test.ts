import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Channel, Connection } from '../../src/client/index.js';
import { ServerError } from '../../src/client/index.js';
import { eventually, startHttpDaemon, type HttpDaemon } from '../helpers/http.js';
import { Collector, waitFor } from '../helpers/wait.js';

/**
 * The management API over real HTTP against the real daemon: every endpoint, with the JSON
 * field names RabbitMQ tools read (KEDA, rabbitmq_exporter, rabbitmqadmin, Terraform's provider).
 */

let d: HttpDaemon;
let conn: Connection;
let ch: Channel;

beforeAll(async () => {
  d = await startHttpDaemon();
  conn = await d.client('guest:guest', 'api-test');
  ch = await conn.channel();
});
afterAll(async () => {
  await d.stop();
});
beforeEach(() => {
  expect.hasAssertions();
});

/** Declares `name` and publishes `n` messages to it through the default exchange, confirmed. */
async function filled(name: string, n: number, options: { durable?: boolean; arguments?: Record<string, unknown> } = {}): Promise<void> {
  await ch.declareQueue(name, options);
  const c = await conn.channel();
  await c.confirmSelect();
  await Promise.all(Array.from({ length: n }, (_, i) => c.publish('', name, `m${i}`)));
  await c.close();
}

describe('overview, nodes, whoami, users, vhosts', () => {
  it('/api/overview has the fields rabbitmq_exporter and rabbitmqadmin read', async () => {
    const r = await d.get('/api/overview');
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toMatch(/^application\/json/);
    const o = r.json;
    expect(o).toMatchObject({
      management_version: expect.any(String),
      rabbitmq_version: expect.any(String),
      product_name: 'Skiff',
      rates_mode: 'basic',
      node: expect.stringMatching(/^skiff@/),
      cluster_name: expect.any(String),
      object_totals: { channels: expect.any(Number), connections: expect.any(Number), consumers: expect.any(Number), exchanges: expect.any(Number), queues: expect.any(Number) },
      queue_totals: {
        messages: expect.any(Number),
        messages_details: { rate: expect.any(Number) },
        messages_ready: expect.any(Number),
        messages_ready_details: { rate: expect.any(Number) },
        messages_unacknowledged: expect.any(Number),
        messages_unacknowledged_details: { rate: expect.any(Number) },
      },
      message_stats: { publish: expect.any(Number), publish_details: { rate: expect.any(Number) }, deliver_get: expect.any(Number), ack: expect.any(Number) },
      exchange_types: expect.arrayContaining([{ name: 'direct', description: expect.any(String), enabled: true }]),
    });
    expect(o.listeners).toEqual(
      expect.arrayContaining([
        { node: o.node, protocol: 'skiff', ip_address: '127.0.0.1', port: d.daemon.port, socket_opts: {} },
        { node: o.node, protocol: 'http', ip_address: '127.0.0.1', port: d.httpPort, socket_opts: {} },
      ]),
    );
    expect(o.object_totals.connections).toBeGreaterThanOrEqual(1);
  });

  it('message statistics count every kind of message event and survive the channel closing', async () => {
    const before = (await d.get('/api/overview')).json.message_stats;
    const c = await conn.channel();
    await c.confirmSelect();
    await c.declareQueue('stats.q');
    await c.declareExchange('stats.x', 'direct');
    for (let i = 0; i < 4; i++) await c.publish('', 'stats.q', `m${i}`);
    const returned = new Collector<unknown>();
    c.onReturn(returned.push);
    await c.publish('stats.x', 'nowhere', 'lost', { mandatory: true });
    await c.publish('stats.x', 'nowhere', 'dropped');
    await returned.take(1);
    const got = await c.get('stats.q');
    got?.nack(true);
    await c.get('stats.q', { noAck: true });
    const seen = new Collector<string>();
    const consumer = await c.consume('stats.q', (m) => {
      seen.push(m.body.toString());
      m.ack();
    });
    await seen.take(3);
    await consumer.cancel();
    await c.get('stats.q');
    await c.close();
    const after = (await d.get('/api/overview')).json.message_stats;
    const delta = (k: string): number => after[k] - before[k];
    expect({
      publish: delta('publish'),
      confirm: delta('confirm'),
      return_unroutable: delta('return_unroutable'),
      drop_unroutable: delta('drop_unroutable'),
      get: delta('get'),
      get_no_ack: delta('get_no_ack'),
      get_empty: delta('get_empty'),
      deliver: delta('deliver'),
      deliver_get: delta('deliver_get'),
      ack: delta('ack'),
      redeliver: delta('redeliver'),
    }).toEqual({ publish: 6, confirm: 6, return_unroutable: 1, drop_unroutable: 1, get: 1, get_no_ack: 1, get_empty: 1, deliver: 3, deliver_get: 5, ack: 3, redeliver: 1 });
  });

  it('rates come from the sampler: *_details.rate rises while messages flow', async () => {
    await ch.declareQueue('rate.q');
    let go = true;
    const flow = (async () => {
      while (go) {
        for (let i = 0; i < 50; i++) void ch.publish('', 'rate.q', 'x');
        await new Promise((r) => setTimeout(r, 10));
      }
    })();
    try {
      const q = await eventually(() => d.get('/api/queues/%2F/rate.q'), (r) => r.json.message_stats.publish_details.rate > 0, 'a publish rate above 0');
      expect(q.json.message_stats.publish_details.rate).toBeGreaterThan(0);
      const o = (await eventually(() => d.get('/api/overview?msg_rates_age=60&msg_rates_incr=1'), (r) => r.json.message_stats.publish_details.samples.length > 1, 'two samples a second apart')).json;
      expect(o.message_stats.publish_details.rate).toBeGreaterThan(0);
      expect(o.message_stats.publish_details.samples.length).toBeGreaterThan(1);
      expect(o.message_stats.publish_details.samples[0]).toEqual({ sample: expect.any(Number), timestamp: expect.any(Number) });
      expect(o.message_stats.publish_details).toHaveProperty('avg_rate');
    } finally {
      go = false;
      await flow;
    }
  });

  it('bad range parameters are 400', async () => {
    expect((await d.get('/api/overview?msg_rates_age=60&msg_rates_incr=0')).json).toEqual({ error: 'bad_request', reason: 'Invalid range parameters: age 60, incr 0' });
  });

  it('/api/nodes shows memory, disk and alarms as RabbitMQ names them', async () => {
    const r = await d.get('/api/nodes');
    expect(r.status).toBe(200);
    const [n] = r.json;
    expect(n).toMatchObject({ name: expect.stringMatching(/^skiff@/), type: 'disc', running: true, mem_used: expect.any(Number), mem_limit: 1024 ** 3 /* memory_high_watermark's default */, mem_alarm: false, disk_free_alarm: false, uptime: expect.any(Number), os_pid: String(process.pid) });
    expect((await d.get(`/api/nodes/${encodeURIComponent(n.name)}`)).json.name).toBe(n.name);
    expect((await d.get('/api/nodes/rabbit@elsewhere')).json).toEqual({ error: 'not_found', reason: "no node 'rabbit@elsewhere'" });
  });

  it('whoami, users and vhosts', async () => {
    expect((await d.get('/api/whoami')).json).toEqual({ name: 'guest', tags: ['administrator'] });
    const guest = { name: 'guest', tags: ['administrator'], limits: {}, password_hash: '', hashing_algorithm: 'scrypt', source: 'builtin' };
    expect((await d.get('/api/users')).json).toEqual([guest]);
    expect((await d.get('/api/users/guest')).json).toEqual(guest);
    expect((await d.get('/api/users/nobody')).status).toBe(404);
    expect((await d.get('/api/vhosts')).json).toEqual([expect.objectContaining({ name: '/', tracing: false })]);
    expect((await d.get('/api/vhosts/%2F')).json.name).toBe('/');
    expect((await d.get('/api/vhosts/other')).json).toEqual({ error: 'not_found', reason: "no vhost 'other'" });
    expect((await d.get('/api/stats')).json).toMatchObject({ version: expect.any(String), published: expect.any(Number), memory: { blocked: false } });
  });

  it('every path with a vhost 404s for a vhost that does not exist', async () => {
    for (const path of ['/api/queues/nope', '/api/queues/nope/q', '/api/exchanges/nope', '/api/exchanges/nope/x', '/api/bindings/nope', '/api/consumers/nope', '/api/definitions/nope', '/api/aliveness-test/nope', '/api/vhosts/nope/channels']) {
      expect((await d.get(path)).json, path).toEqual({ error: 'not_found', reason: "no vhost 'nope'" });
    }
  });
});

describe('queues', () => {
  it('the fields KEDA and rabbitmq_exporter read', async () => {
    await filled('keda.q', 3, { durable: true, arguments: { 'x-max-length': 100 } });
    const r = await d.get('/api/queues/%2F/keda.q');
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({
      name: 'keda.q',
      vhost: '/',
      durable: true,
      auto_delete: false,
      exclusive: false,
      arguments: { 'x-max-length': 100 },
      node: expect.any(String),
      type: 'classic',
      state: 'running',
      policy: null,
      consumers: 0,
      messages: 3,
      messages_ready: 3,
      messages_unacknowledged: 0,
      messages_details: { rate: expect.any(Number) },
      message_stats: { publish: 3, publish_details: { rate: expect.any(Number) }, deliver_get: 0, ack: 0 },
    });
  });

  it('idle_since appears once nothing moves', async () => {
    await filled('idle.q', 1);
    const q = (await eventually(() => d.get('/api/queues/%2F/idle.q'), (r) => r.json.idle_since !== undefined, 'idle_since')).json;
    expect(q.idle_since).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
  });

  it('PUT creates (201), redeclares (204), refuses another attribute with the broker error (400); DELETE and purge', async () => {
    expect((await d.put('/api/queues/%2F/crud.q', { durable: true, arguments: { 'x-message-ttl': 60000 } })).status).toBe(201);
    expect((await d.put('/api/queues/%2F/crud.q', { durable: true, arguments: { 'x-message-ttl': 60000 } })).status).toBe(204);
    expect((await d.put('/api/queues/%2F/crud.q', { durable: false, arguments: { 'x-message-ttl': 60000 } })).json).toEqual({
      error: 'bad_request',
      reason: "406 PRECONDITION_FAILED - inequivalent arg 'durable' for queue 'crud.q' in vhost '/': received 'false' but current is 'true'",
    });
    expect((await d.put('/api/queues/%2F/bad.args', { arguments: { 'x-message-ttl': -1 } })).json).toEqual({
      error: 'bad_request',
      reason: "406 PRECONDITION_FAILED - invalid arg 'x-message-ttl' for queue 'bad.args' in vhost '/': expected a non-negative integer, got -1",
    });
    expect((await d.put('/api/queues/%2F/amq.mine', {})).json).toEqual({ error: 'access_refused', reason: "queue name 'amq.mine' contains reserved prefix 'amq.*'" });
    expect((await d.put('/api/queues/%2F/excl', { exclusive: true })).json).toEqual({ error: 'bad_request', reason: "406 PRECONDITION_FAILED - exclusive queue 'excl' needs a connection to own it" });
    await ch.publish('', 'crud.q', 'one');
    await waitFor(() => d.daemon.broker.queues.get('crud.q')?.messageCount === 1, 'the message to arrive');
    expect((await d.del('/api/queues/%2F/crud.q?if-empty=true')).json).toEqual({ error: 'bad_request', reason: "406 PRECONDITION_FAILED - queue 'crud.q' is not empty" });
    expect((await d.del('/api/queues/%2F/crud.q/contents')).status).toBe(204);
    expect((await d.get('/api/queues/%2F/crud.q')).json.messages_ready).toBe(0);
    expect((await d.del('/api/queues/%2F/crud.q?if-empty=true')).status).toBe(204);
    expect((await d.get('/api/queues/%2F/crud.q')).json).toEqual({ error: 'not_found', reason: "no queue 'crud.q' in vhost '/'" });
    expect((await d.del('/api/queues/%2F/crud.q')).status).toBe(404);
    expect((await d.del('/api/queues/%2F/crud.q/contents')).status).toBe(404);
  });

  it("another connection's exclusive queue is locked to the API, as on the wire", async () => {
    const other = await (await d.client()).channel();
    await other.declareQueue('locked.q', { exclusive: true });
    const q = (await d.get('/api/queues/%2F/locked.q')).json;
    expect(q).toMatchObject({ exclusive: true, owner_pid_details: { name: expect.stringContaining('->'), peer_host: '127.0.0.1' } });
    expect((await d.del('/api/queues/%2F/locked.q/contents')).json).toEqual({
      error: 'bad_request',
      reason: "405 RESOURCE_LOCKED - cannot obtain exclusive access to locked queue 'locked.q' in vhost '/'",
    });
  });

  it('/api/queues/{vhost}/{name}/bindings lists the default binding and the others', async () => {
    await ch.declareQueue('bound.q');
    await ch.declareExchange('bound.x', 'topic');
    await ch.bindQueue('bound.q', 'bound.x', 'a.#');
    expect((await d.get('/api/queues/%2F/bound.q/bindings')).json).toEqual([
      { source: '', vhost: '/', destination: 'bound.q', destination_type: 'queue', routing_key: 'bound.q', arguments: {}, properties_key: 'bound.q' },
      { source: 'bound.x', vhost: '/', destination: 'bound.q', destination_type: 'queue', routing_key: 'a.#', arguments: {}, properties_key: 'a.%23' },
    ]);
  });
});

describe('listing parameters: page, page_size, name, use_regex, sort, sort_reverse, columns', () => {
  beforeAll(async () => {
    for (let i = 0; i < 25; i++) await filled(`page.${String(i).padStart(2, '0')}`, i % 5);
  });

  it('pages with the counts RabbitMQ returns', async () => {
    const r = (await d.get('/api/queues/%2F?page=2&page_size=10&name=page.')).json;
    const total = d.daemon.broker.queues.size;
    expect({ ...r, items: r.items.map((q: { name: string }) => q.name) }).toEqual({
      filtered_count: 25,
      item_count: 10,
      page: 2,
      page_count: 3,
      page_size: 10,
      total_count: total,
      items: Array.from({ length: 10 }, (_, i) => `page.${10 + i}`),
    });
    const last = (await d.get('/api/queues/%2F?page=3&page_size=10&name=page.')).json;
    expect(last.item_count).toBe(5);
    expect((await d.get('/api/queues?page=1&name=page.')).json.page_size).toBe(100);
  });

  it('filters by name (case-insensitive substring, or a regular expression), sorts, reverses and picks columns', async () => {
    expect((await d.get('/api/queues?name=PAGE.2&columns=name')).json).toEqual([{ name: 'page.20' }, { name: 'page.21' }, { name: 'page.22' }, { name: 'page.23' }, { name: 'page.24' }]);
    expect((await d.get('/api/queues?name=%5Epage%5C.0%5B12%5D%24&use_regex=true&columns=name')).json).toEqual([{ name: 'page.01' }, { name: 'page.02' }]);
    const sorted = (await d.get('/api/queues?name=page.&sort=messages_ready&sort_reverse=true&columns=name,messages_ready&page=1&page_size=6')).json.items;
    expect(sorted).toEqual([
      { name: 'page.24', messages_ready: 4 },
      { name: 'page.19', messages_ready: 4 },
      { name: 'page.14', messages_ready: 4 },
      { name: 'page.09', messages_ready: 4 },
      { name: 'page.04', messages_ready: 4 },
      { name: 'page.23', messages_ready: 3 },
    ]);
    const nested = (await d.get('/api/queues?name=page.0&columns=name,message_stats.publish')).json;
    expect(nested[1]).toEqual({ name: 'page.01', message_stats: { publish: 1 } });
    const byName = (await d.get('/api/queues?name=page.&sort=name&sort_reverse=true&columns=name')).json;
    expect(byName[0]).toEqual({ name: 'page.24' });
  });

  it('bad parameters are 400 with RabbitMQ’s words', async () => {
    expect((await d.get('/api/queues?page=abc')).json).toEqual({ error: 'bad_request', reason: 'Pagination parameters are invalid' });
    expect((await d.get('/api/queues?page=0')).json).toEqual({ error: 'invalid_pagination_parameters', reason: 'Invalid pagination parameters: page number 0, page size 100' });
    expect((await d.get('/api/queues?page=1&page_size=501')).json).toEqual({ error: 'invalid_pagination_parameters', reason: 'Invalid pagination parameters: page number 1, page size 501' });
    expect((await d.get('/api/queues?page=9&page_size=10&name=page.')).json).toEqual({ error: 'page_out_of_range', reason: 'Page out of range, page: 9 page size: 10, len: 25' });
    const bad = (await d.get('/api/queues?name=(&use_regex=true')).json;
    expect(bad.error).toBe('bad_request');
    expect(bad.reason).toMatch(/^name: invalid regular expression: /);
  });

  it('the same parameters apply to every list endpoint', async () => {
    const r = (await d.get('/api/exchanges?page=1&page_size=2&columns=name')).json;
    expect(r).toMatchObject({ item_count: 2, page_size: 2, items: [{ name: '' }, { name: 'amq.direct' }] });
    expect((await d.get('/api/bindings/%2F?page=1&page_size=1')).json.item_count).toBe(1);
    expect((await d.get('/api/connections?columns=user')).json).toEqual(expect.arrayContaining([{ user: 'guest' }]));
  });
});

describe('exchanges', () => {
  it('lists the built-in ones with RabbitMQ fields', async () => {
    const r = (await d.get('/api/exchanges/%2F')).json;
    const names = r.map((x: { name: string }) => x.name);
    expect(names).toEqual(expect.arrayContaining(['', 'amq.direct', 'amq.fanout', 'amq.topic', 'amq.headers']));
    expect(r.find((x: { name: string }) => x.name === 'amq.topic')).toEqual({
      name: 'amq.topic',
      vhost: '/',
      type: 'topic',
      durable: true,
      auto_delete: false,
      internal: false,
      arguments: {},
      user_who_performed_action: 'rmq-internal',
      policy: null,
      message_stats: { publish_in: 0, publish_in_details: { rate: 0 }, publish_out: 0, publish_out_details: { rate: 0 } },
    });
    expect((await d.get('/api/exchanges/%2F/amq.default')).json).toMatchObject({ name: '', type: 'direct' });
  });

  it('PUT, GET, DELETE (if-unused) and the broker’s refusals', async () => {
    expect((await d.put('/api/exchanges/%2F/ex.a', { type: 'fanout', durable: true, arguments: { 'alternate-exchange': 'amq.fanout' } })).status).toBe(201);
    expect((await d.put('/api/exchanges/%2F/ex.a', { type: 'fanout', durable: true, arguments: { 'alternate-exchange': 'amq.fanout' } })).status).toBe(204);
    expect((await d.get('/api/exchanges/%2F/ex.a')).json).toMatchObject({ name: 'ex.a', type: 'fanout', durable: true, arguments: { 'alternate-exchange': 'amq.fanout' } });
    expect((await d.put('/api/exchanges/%2F/ex.a', { type: 'direct', durable: true })).json).toEqual({
      error: 'bad_request',
      reason: "406 PRECONDITION_FAILED - inequivalent arg 'type' for exchange 'ex.a' in vhost '/': received 'direct' but current is 'fanout'",
    });
    expect((await d.put('/api/exchanges/%2F/ex.b', { type: 'bogus' })).json).toEqual({ error: 'bad_request', reason: "503 COMMAND_INVALID - unknown exchange type 'bogus'" });
    expect((await d.put('/api/exchanges/%2F/ex.b', { durable: true })).json).toEqual({ error: 'bad_request', reason: 'body.type: is required' });
    expect((await d.put('/api/exchanges/%2F/amq.default', { type: 'direct' })).json).toEqual({ error: 'access_refused', reason: 'operation not permitted on the default exchange' });
    await ch.declareQueue('ex.q');
    await ch.bindQueue('ex.q', 'ex.a', '');
    expect((await d.del('/api/exchanges/%2F/ex.a?if-unused=true')).json).toEqual({ error: 'bad_request', reason: "406 PRECONDITION_FAILED - exchange 'ex.a' in use" });
    expect((await d.del('/api/exchanges/%2F/amq.direct')).json).toEqual({ error: 'access_refused', reason: "exchange 'amq.direct' is built in and cannot be deleted" });
    expect((await d.del('/api/exchanges/%2F/ex.a')).status).toBe(204);
    expect((await d.get('/api/exchanges/%2F/ex.a')).status).toBe(404);
    expect((await d.del('/api/exchanges/%2F/ex.a')).json).toEqual({ error: 'not_found', reason: "no exchange 'ex.a' in vhost '/'" });
  });

  it('publish_in and publish_out count what came in and how many copies went out', async () => {
    await ch.declareExchange('ex.fan', 'fanout');
    for (const q of ['ex.fan.1', 'ex.fan.2']) {
      await ch.declareQueue(q);
      await ch.bindQueue(q, 'ex.fan', '');
    }
    await d.post('/api/exchanges/%2F/ex.fan/publish', { routing_key: '', payload: 'x' });
    expect((await d.get('/api/exchanges/%2F/ex.fan')).json.message_stats).toMatchObject({ publish_in: 1, publish_out: 2 });
  });

  it('bindings/source and bindings/destination', async () => {
    await ch.declareExchange('e2e.src', 'direct');
    await ch.declareExchange('e2e.dst', 'fanout');
    await ch.bindExchange('e2e.dst', 'e2e.src', 'k');
    const edge = { source: 'e2e.src', vhost: '/', destination: 'e2e.dst', destination_type: 'exchange', routing_key: 'k', arguments: {}, properties_key: 'k' };
    expect((await d.get('/api/exchanges/%2F/e2e.src/bindings/source')).json).toEqual([edge]);
    expect((await d.get('/api/exchanges/%2F/e2e.dst/bindings/destination')).json).toEqual([edge]);
    expect((await d.get('/api/exchanges/%2F/e2e.dst/bindings/source')).json).toEqual([]);
  });
});

describe('bindings', () => {
  it('POST creates (201, Location), GET lists and shows, DELETE by properties_key removes', async () => {
    await ch.declareQueue('b.q');
    await ch.declareExchange('b.h', 'headers');
    const created = await d.post('/api/bindings/%2F/e/b.h/q/b.q', { routing_key: '', arguments: { 'x-match': 'any', kind: 'pdf' } });
    expect(created.status).toBe(201);
    const list = (await d.get('/api/bindings/%2F/e/b.h/q/b.q')).json;
    expect(list).toEqual([
      { source: 'b.h', vhost: '/', destination: 'b.q', destination_type: 'queue', routing_key: '', arguments: { 'x-match': 'any', kind: 'pdf' }, properties_key: expect.stringMatching(/^~~/) },
    ]);
    expect(created.headers['location']).toBe(`/api/bindings/%2F/e/b.h/q/b.q/${list[0].properties_key}`);
    expect((await d.get(created.headers['location'] as string)).json).toEqual(list[0]);
    expect((await d.get('/api/bindings')).json).toEqual(expect.arrayContaining(list));
    expect((await d.del(created.headers['location'] as string)).status).toBe(204);
    expect((await d.get('/api/bindings/%2F/e/b.h/q/b.q')).json).toEqual([]);
    expect((await d.del(created.headers['location'] as string)).status).toBe(404);
  });

  it('routing keys with characters URLs escape; exchange to exchange; the refusals', async () => {
    await ch.declareExchange('b.t', 'topic');
    await ch.declareExchange('b.f', 'fanout');
    await ch.declareQueue('b.q2');
    const r = await d.post('/api/bindings/%2F/e/b.t/q/b.q2', { routing_key: 'a.*.#' });
    expect(r.status).toBe(201);
    expect((await d.get(r.headers['location'] as string)).json.routing_key).toBe('a.*.#');
    expect((await d.post('/api/bindings/%2F/e/b.t/e/b.f', { routing_key: 'x' })).status).toBe(201);
    expect((await d.get('/api/bindings/%2F/e/b.t/e/b.f')).json).toEqual([expect.objectContaining({ destination: 'b.f', destination_type: 'exchange', routing_key: 'x' })]);
    expect((await d.del('/api/bindings/%2F/e/b.t/e/b.f/x')).status).toBe(204);
    expect((await d.post('/api/bindings/%2F/e/amq.default/q/b.q2', {})).json).toEqual({ error: 'access_refused', reason: 'operation not permitted on the default exchange' });
    expect((await d.post('/api/bindings/%2F/e/nope/q/b.q2', {})).json).toEqual({ error: 'not_found', reason: "no exchange 'nope' in vhost '/'" });
    expect((await d.post('/api/bindings/%2F/e/b.t/q/nope', {})).json).toEqual({ error: 'not_found', reason: "no queue 'nope' in vhost '/'" });
    expect((await d.post('/api/bindings/%2F/e/b.t/q/b.q2', { routing_key: 5 })).json).toEqual({ error: 'bad_request', reason: 'body.routing_key: must be string' });
  });
});

describe('publish and get over HTTP', () => {
  it('publish answers routed true or false; properties map to and from AMQP names', async () => {
    await ch.declareQueue('pub.q', { durable: true });
    const seen = new Collector<import('../../src/client/index.js').Message>();
    const c2 = await conn.channel();
    const body = {
      routing_key: 'pub.q',
      payload: 'aGVsbG8=',
      payload_encoding: 'base64',
      properties: { content_type: 'text/plain', headers: { n: 1 }, delivery_mode: 2, priority: 3, message_id: 'id-1', timestamp: 1700000000, app_id: 'curl' },
    };
    expect((await d.post('/api/exchanges/%2F/amq.default/publish', body)).json).toEqual({ routed: true });
    expect((await d.post('/api/exchanges/%2F/amq.default/publish', { ...body, routing_key: 'no.such.queue' })).json).toEqual({ routed: false });
    const got = (await d.post('/api/queues/%2F/pub.q/get', { count: 1, ackmode: 'ack_requeue_true', encoding: 'auto' })).json;
    expect(got).toEqual([
      {
        payload_bytes: 5,
        redelivered: false,
        exchange: '',
        routing_key: 'pub.q',
        message_count: 0,
        properties: { content_type: 'text/plain', headers: { n: 1 }, message_id: 'id-1', timestamp: 1700000000, app_id: 'curl', delivery_mode: 2, priority: 3 },
        payload: 'hello',
        payload_encoding: 'string',
      },
    ]);
    await c2.consume('pub.q', (m) => {
      seen.push(m);
      m.ack();
    });
    const [m] = await seen.take(1);
    expect({ body: m?.body.toString(), persistent: m?.persistent, redelivered: m?.redelivered, props: m?.properties }).toEqual({
      body: 'hello',
      persistent: true,
      redelivered: true,
      props: { contentType: 'text/plain', headers: { n: 1 }, messageId: 'id-1', timestamp: 1700000000_000, appId: 'curl' },
    });
    await c2.close();
  });

  it('get: ackmodes, base64 for binary payloads, truncate', async () => {
    await ch.declareQueue('get.dlx.q');
    await ch.declareQueue('get.q', { arguments: { 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': 'get.dlx.q' } });
    await ch.publish('', 'get.q', Buffer.from([0xff, 0x00, 0x01]));
    await ch.publish('', 'get.q', 'abcdefghij');
    await ch.publish('', 'get.q', 'third');
    await waitFor(() => d.daemon.broker.queues.get('get.q')?.messageCount === 3, 'three messages');
    const peek = (await d.post('/api/queues/%2F/get.q/get', { count: 2, ackmode: 'ack_requeue_true', encoding: 'auto', truncate: 4 })).json;
    expect(peek.map((m: Record<string, unknown>) => [m['payload'], m['payload_encoding'], m['payload_bytes'], m['message_count']])).toEqual([
      ['/wAB', 'base64', 3, 2],
      ['abcd', 'string', 10, 1],
    ]);
    const again = (await d.post('/api/queues/%2F/get.q/get', { count: 1, ackmode: 'ack_requeue_false', encoding: 'base64' })).json;
    expect(again).toEqual([expect.objectContaining({ payload: '/wAB', payload_encoding: 'base64', redelivered: true })]);
    const rejected = (await d.post('/api/queues/%2F/get.q/get', { count: 5, ackmode: 'reject_requeue_false' })).json;
    expect(rejected.map((m: { payload: string }) => m.payload)).toEqual(['abcdefghij', 'third']);
    expect((await d.get('/api/queues/%2F/get.q')).json.messages).toBe(0);
    expect((await d.get('/api/queues/%2F/get.dlx.q')).json.messages_ready).toBe(2);
    expect((await d.post('/api/queues/%2F/get.q/get', { count: 1, ackmode: 'ack_requeue_true' })).json).toEqual([]);
  });

  it('bad publish and get bodies name the field', async () => {
    await ch.declareQueue('badget.q');
    expect((await d.post('/api/queues/%2F/badget.q/get', { count: 0, ackmode: 'ack_requeue_true' })).json).toEqual({ error: 'bad_request', reason: 'body.count: must be >= 1' });
    expect((await d.post('/api/queues/%2F/badget.q/get', { count: 1, ackmode: 'keep' })).json).toEqual({ error: 'bad_request', reason: 'body.ackmode: must be equal to one of the allowed values' });
    expect((await d.post('/api/queues/%2F/badget.q/get', { count: 1 })).json).toEqual({ error: 'bad_request', reason: 'body.ackmode: is required' });
    expect((await d.post('/api/queues/%2F/nope/get', { count: 1, ackmode: 'ack_requeue_true' })).json).toEqual({ error: 'not_found', reason: "no queue 'nope' in vhost '/'" });
    expect((await d.post('/api/exchanges/%2F/amq.default/publish', { payload: 'x' })).json).toEqual({ error: 'bad_request', reason: 'body.routing_key: is required' });
    expect((await d.post('/api/exchanges/%2F/amq.default/publish', { routing_key: 'x', payload: 'x', properties: { delivery_mode: 3 } })).json).toEqual({
      error: 'bad_request',
      reason: 'body.properties.delivery_mode: must be equal to one of the allowed values',
    });
    expect((await d.post('/api/exchanges/%2F/nope/publish', { routing_key: 'x', payload: 'x' })).json).toEqual({ error: 'not_found', reason: "no exchange 'nope' in vhost '/'" });
    await ch.declareExchange('internal.x', 'fanout', { internal: true });
    expect((await d.post('/api/exchanges/%2F/internal.x/publish', { routing_key: '', payload: 'x' })).json).toEqual({ error: 'access_refused', reason: "cannot publish to internal exchange 'internal.x'" });
  });

  it('a full reject-publish queue refuses an HTTP publish with 400', async () => {
    await ch.declareQueue('full.q', { arguments: { 'x-max-length': 1, 'x-overflow': 'reject-publish' } });
    expect((await d.post('/api/exchanges/%2F/amq.default/publish', { routing_key: 'full.q', payload: 'a' })).json).toEqual({ routed: true });
    expect((await d.post('/api/exchanges/%2F/amq.default/publish', { routing_key: 'full.q', payload: 'b' })).json).toEqual({
      error: 'bad_request',
      reason: 'rejected: a full queue (x-overflow reject-publish) refused the message',
    });
  });
});

describe('definitions', () => {
  it('GET exports the topology in the shape skiff definitions export writes; POST imports one', async () => {
    await ch.declareExchange('def.x', 'topic', { durable: true });
    await ch.declareQueue('def.q', { durable: true, arguments: { 'x-max-length': 5 } });
    await ch.bindQueue('def.q', 'def.x', 'a.*');
    // The vhost's export: its entries, without a vhost field (RabbitMQ's GET /api/definitions/{vhost}).
    const defs = (await d.get('/api/definitions/%2F')).json;
    expect(defs.skiff_version).toEqual(expect.any(String));
    expect(defs.exchanges).toContainEqual({ name: 'def.x', type: 'topic', durable: true, auto_delete: false, internal: false, arguments: {} });
    expect(defs.queues).toContainEqual({ name: 'def.q', durable: true, auto_delete: false, arguments: { 'x-max-length': 5 } });
    expect(defs.bindings).toContainEqual({ source: 'def.x', destination: 'def.q', destination_type: 'queue', routing_key: 'a.*', arguments: {} });
    expect(defs.exchanges.map((x: { name: string }) => x.name)).not.toContain('amq.direct');
    // The daemon's: every vhost, and every entry names its vhost.
    const all = (await d.get('/api/definitions')).json;
    expect(all.vhosts).toEqual([{ name: '/', description: 'Default virtual host', tags: [], metadata: { description: 'Default virtual host', tags: [] }, default_queue_type: 'classic' }]);
    expect(all.exchanges).toContainEqual({ vhost: '/', name: 'def.x', type: 'topic', durable: true, auto_delete: false, internal: false, arguments: {} });
    expect(all.queues).toContainEqual({ vhost: '/', name: 'def.q', durable: true, auto_delete: false, arguments: { 'x-max-length': 5 } });
    expect(all.bindings).toContainEqual({ vhost: '/', source: 'def.x', destination: 'def.q', destination_type: 'queue', routing_key: 'a.*', arguments: {} });

    const imported = await d.post('/api/definitions', {
      exchanges: [{ name: 'imp.x', type: 'fanout', durable: true }],
      queues: [{ name: 'imp.q', durable: true }],
      bindings: [{ source: 'imp.x', destination: 'imp.q' }],
    });
    expect(imported.json).toEqual({ users: 0, vhosts: 0, permissions: 0, topicPermissions: 0, policies: 0, exchanges: 1, queues: 1, bindings: 1, warnings: [] });
    expect((await d.get('/api/exchanges/%2F/imp.x/bindings/source')).json).toEqual([expect.objectContaining({ destination: 'imp.q', routing_key: '' })]);
    expect((await d.post('/api/definitions', defs)).status).toBe(200);
  });

  it('a bad document names every problem by path; a conflict stops with the broker error', async () => {
    expect((await d.post('/api/definitions', { queues: [{ durable: 'yes' }], widgets: [] })).json).toEqual({
      error: 'bad_request',
      reason:
        "3 problems: unknown key 'widgets' (expected exchanges, queues, bindings, or a section of RabbitMQ's export); queues[0].name: is required; queues[0].durable: must be a boolean, got string",
      errors: [
        { path: '', message: "unknown key 'widgets' (expected exchanges, queues, bindings, or a section of RabbitMQ's export)" },
        { path: 'queues[0].name', message: 'is required' },
        { path: 'queues[0].durable', message: 'must be a boolean, got string' },
      ],
      warnings: [],
    });
    await ch.declareQueue('def.conflict', { durable: true });
    const conflict = "406 PRECONDITION_FAILED - inequivalent arg 'durable' for queue 'def.conflict' in vhost '/': received 'false' but current is 'true'";
    expect((await d.post('/api/definitions', { queues: [{ name: 'def.conflict', durable: false }] })).json).toEqual({
      error: 'bad_request',
      reason: `queues[0]: ${conflict}`,
      errors: [{ path: 'queues[0]', message: conflict }],
      warnings: [],
    });
  });
});

describe('connections, channels, consumers', () => {
  it('lists connections with the client’s name and properties; channels and consumers under them', async () => {
    const c = await d.client('guest:guest', 'listed-conn');
    const cc = await c.channel();
    await cc.declareQueue('cons.q');
    await cc.prefetch(7);
    await cc.consume('cons.q', () => undefined, { tag: 'tag-1' });
    const conns = (await d.get('/api/connections')).json;
    const mine = conns.find((x: { user_provided_name: string | null }) => x.user_provided_name === 'listed-conn');
    expect(mine).toMatchObject({
      name: expect.stringMatching(/^127\.0\.0\.1:\d+ -> 127\.0\.0\.1:\d+$/),
      user: 'guest',
      vhost: '/',
      protocol: 'Skiff 1.0',
      peer_host: '127.0.0.1',
      peer_port: expect.any(Number),
      state: 'running',
      channels: 1,
      timeout: 0, // the test client asks for heartbeatMs 0, which turns them off (SPEC §3.1.1)
      client_properties: expect.objectContaining({ connectionName: 'listed-conn' }),
      recv_oct: expect.any(Number),
      send_oct: expect.any(Number),
      recv_oct_details: { rate: expect.any(Number) },
    });
    expect((await d.get(`/api/connections/${encodeURIComponent(mine.name)}`)).json.name).toBe(mine.name);
    expect((await d.get(`/api/connections/${mine.id}`)).json.name).toBe(mine.name);
    const chans = (await d.get(`/api/connections/${encodeURIComponent(mine.name)}/channels`)).json;
    expect(chans).toEqual([
      expect.objectContaining({
        name: `${mine.name} (1)`,
        number: 1,
        user: 'guest',
        consumer_count: 1,
        prefetch_count: 7,
        confirm: false,
        connection_details: { name: mine.name, peer_host: '127.0.0.1', peer_port: mine.peer_port },
        message_stats: expect.objectContaining({ publish: 0, publish_details: { rate: expect.any(Number) } }),
      }),
    ]);
    expect((await d.get(`/api/channels/${encodeURIComponent(`${mine.name} (1)`)}`)).json.number).toBe(1);
    expect((await d.get('/api/channels')).json).toEqual(expect.arrayContaining([expect.objectContaining({ name: `${mine.name} (1)` })]));
    expect((await d.get('/api/vhosts/%2F/channels')).json.length).toBeGreaterThan(0);
    const consumers = (await d.get('/api/consumers/%2F')).json;
    expect(consumers).toContainEqual(
      expect.objectContaining({
        consumer_tag: 'tag-1',
        queue: { name: 'cons.q', vhost: '/' },
        channel_details: expect.objectContaining({ name: `${mine.name} (1)`, number: 1, connection_name: mine.name, user: 'guest' }),
        ack_required: true,
        exclusive: false,
        prefetch_count: 7,
        active: true,
      }),
    );
    expect((await d.get('/api/consumers')).json).toEqual(consumers);
    expect((await d.get('/api/connections/nope')).json).toEqual({ error: 'not_found', reason: "no connection 'nope'" });
    expect((await d.get('/api/channels/nope')).json).toEqual({ error: 'not_found', reason: "no channel 'nope'" });
  });

  it('DELETE closes a connection with CONNECTION_FORCED and the X-Reason header', async () => {
    const victim = await d.client('guest:guest', 'to-close');
    const v = (await d.get('/api/connections')).json.find((x: { user_provided_name: string | null }) => x.user_provided_name === 'to-close');
    expect((await d.del(`/api/connections/${encodeURIComponent(v.name)}`, { headers: { 'x-reason': 'maintenance' } })).status).toBe(204);
    const err = await victim.closed;
    expect(err).toBeInstanceOf(ServerError);
    expect({ code: (err as ServerError).code, message: (err as ServerError).message }).toEqual({ code: 'CONNECTION_FORCED', message: 'CONNECTION_FORCED - maintenance' });
    expect((await d.del(`/api/connections/${encodeURIComponent(v.name)}`)).status).toBe(404);
  });
});

describe('aliveness test', () => {
  it('declares aliveness-test, publishes and gets a message: {status: ok}', async () => {
    expect((await d.get('/api/aliveness-test/%2F')).json).toEqual({ status: 'ok' });
    expect((await d.get('/api/queues/%2F/aliveness-test')).json).toMatchObject({ name: 'aliveness-test', messages: 0 });
  });
});
