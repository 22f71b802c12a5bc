import { connect as netConnect } from 'node:net';
import { networkInterfaces } from 'node:os';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { request, startHttpDaemon, users, type HttpDaemon } from '../helpers/http.js';
import { within } from '../helpers/wait.js';

/** Who may do what over HTTP, and every bad input with its exact status and `{error, reason}`. */

let d: HttpDaemon;

beforeAll(async () => {
  d = await startHttpDaemon({
    auth: await users([
      { name: 'ops', password: 'ops-pw', admin: true },
      { name: 'app', password: 'app-pw', admin: false },
    ]),
    frameMax: 8192,
    http: { maxBodyBytes: 16 * 1024 },
  });
});
afterAll(async () => {
  await d.stop();
});
beforeEach(() => {
  expect.hasAssertions();
});

const REFUSED = { error: 'not_authorized', reason: 'login refused: wrong username or password' };

describe('authentication', () => {
  it('no credentials: 401 with a Basic challenge (none for pages that ask themselves)', async () => {
    const r = await d.get('/api/overview', { auth: null });
    expect({ status: r.status, json: r.json, challenge: r.headers['www-authenticate'] }).toEqual({
      status: 401,
      json: { error: 'not_authorized', reason: 'login required: send HTTP basic credentials' },
      challenge: 'Basic realm="Skiff", charset="UTF-8"',
    });
    const quiet = await d.get('/api/overview', { auth: null, headers: { 'x-requested-with': 'XMLHttpRequest' } });
    expect(quiet.status).toBe(401);
    expect(quiet.headers['www-authenticate']).toBeUndefined();
    expect((await d.get('/api/overview', { auth: null, headers: { authorization: 'Bearer abc' } })).json).toEqual({ error: 'not_authorized', reason: 'login required: send HTTP basic credentials' });
  });

  it('a wrong password and an unknown user get the same 401, never saying which was wrong', async () => {
    for (const auth of ['ops:nope', 'mallory:ops-pw', 'guest:wrong', 'ops:']) {
      const r = await d.get('/api/whoami', { auth });
      expect({ status: r.status, json: r.json }, auth).toEqual({ status: 401, json: REFUSED });
    }
  });

  it('configured users log in; the admin flag is RabbitMQ’s administrator tag', async () => {
    expect((await d.get('/api/whoami', { auth: 'ops:ops-pw' })).json).toEqual({ name: 'ops', tags: ['administrator'] });
    expect((await d.get('/api/whoami', { auth: 'app:app-pw' })).json).toEqual({ name: 'app', tags: [] });
    expect((await d.get('/api/users', { auth: 'ops:ops-pw' })).json).toEqual([
      { name: 'app', tags: [], limits: {}, password_hash: '', hashing_algorithm: 'scrypt', source: 'config' },
      { name: 'guest', tags: ['administrator'], limits: {}, password_hash: '', hashing_algorithm: 'scrypt', source: 'builtin' },
      { name: 'ops', tags: ['administrator'], limits: {}, password_hash: '', hashing_algorithm: 'scrypt', source: 'config' },
    ]);
  });

  const external = Object.values(networkInterfaces())
    .flat()
    .find((a) => a !== undefined && a.family === 'IPv4' && !a.internal)?.address;
  it.skipIf(external === undefined)('guest is refused from a non-loopback address, with the same 401', async () => {
    const far = await startHttpDaemon({ http: { host: '0.0.0.0' } });
    try {
      const r = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const s = netConnect({ host: external as string, port: far.httpPort }, () => {
          // write, not end: Node's HTTP server drops a reply owed to a half-closed socket, and a
          // refusal comes after login_failure_delay_ms.
          s.write(`GET /api/whoami HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Basic ${Buffer.from('guest:guest').toString('base64')}\r\n\r\n`);
        });
        let text = '';
        s.setEncoding('utf8').on('data', (c: string) => (text += c));
        s.on('end', () => resolve({ status: Number(text.slice(9, 12)), body: text.slice(text.indexOf('\r\n\r\n') + 4) }));
        s.on('error', reject);
      });
      expect({ status: r.status, json: JSON.parse(r.body) }).toEqual({ status: 401, json: REFUSED });
      expect((await far.get('/api/whoami')).json).toEqual({ name: 'guest', tags: ['administrator'] });
    } finally {
      await far.stop();
    }
  });
});

describe('permissions: plain users get what the wire protocol gives them', () => {
  const app = { auth: 'app:app-pw' };
  const refused = (method: string, route: string) => ({ error: 'access_refused', reason: `user 'app' is not an administrator; ${method} ${route} needs the administrator tag` });
  // Listings are open to the monitoring tag too; users, definitions and metrics are not.
  const adminOnly = new Set(['/api/users', '/api/definitions', '/metrics', '/metrics/per-object']);
  const notMonitor = (route: string) => ({
    error: 'access_refused',
    reason: `user 'app' is not an administrator or monitoring user; GET ${route} needs the administrator or monitoring tag`,
  });

  it('listings, the overview, connections, definitions export and metrics need an admin', async () => {
    for (const [path, route] of [
      ['/api/overview', '/api/overview'],
      ['/api/queues', '/api/queues'],
      ['/api/queues/%2F', '/api/queues/:vhost'],
      ['/api/exchanges', '/api/exchanges'],
      ['/api/bindings', '/api/bindings'],
      ['/api/connections', '/api/connections'],
      ['/api/channels', '/api/channels'],
      ['/api/consumers', '/api/consumers'],
      ['/api/nodes', '/api/nodes'],
      ['/api/users', '/api/users'],
      ['/api/definitions', '/api/definitions'],
      ['/metrics', '/metrics'],
      ['/metrics/per-object', '/metrics/per-object'],
    ] as const) {
      const r = await d.get(path, app);
      expect({ status: r.status, json: r.json }, path).toEqual({ status: 403, json: adminOnly.has(route) ? refused('GET', route) : notMonitor(route) });
    }
    expect((await d.del('/api/connections/c1', app)).json).toEqual(refused('DELETE', '/api/connections/:name'));
  });

  it('declaring, binding, publishing, getting, purging and deleting are theirs, as on the wire', async () => {
    expect((await d.put('/api/queues/%2F/app.q', { durable: false }, app)).status).toBe(201);
    expect((await d.put('/api/exchanges/%2F/app.x', { type: 'direct' }, app)).status).toBe(201);
    expect((await d.post('/api/bindings/%2F/e/app.x/q/app.q', { routing_key: 'k' }, app)).status).toBe(201);
    expect((await d.post('/api/exchanges/%2F/app.x/publish', { routing_key: 'k', payload: 'hi' }, app)).json).toEqual({ routed: true });
    expect((await d.get('/api/queues/%2F/app.q', app)).json).toMatchObject({ name: 'app.q', messages: 1 });
    expect((await d.get('/api/exchanges/%2F/app.x', app)).json).toMatchObject({ name: 'app.x' });
    expect((await d.post('/api/queues/%2F/app.q/get', { count: 1, ackmode: 'ack_requeue_true' }, app)).json).toHaveLength(1);
    expect((await d.del('/api/queues/%2F/app.q/contents', app)).status).toBe(204);
    expect((await d.del('/api/bindings/%2F/e/app.x/q/app.q/k', app)).status).toBe(204);
    expect((await d.post('/api/definitions', { queues: [{ name: 'app.q2' }] }, app)).status).toBe(200);
    expect((await d.get('/api/aliveness-test/%2F', app)).json).toEqual({ status: 'ok' });
    expect((await d.get('/api/health/checks/alarms', app)).json).toEqual({ status: 'ok' });
    expect((await d.del('/api/queues/%2F/app.q', app)).status).toBe(204);
    expect((await d.del('/api/exchanges/%2F/app.x', app)).status).toBe(204);
  });
});

describe('bad input', () => {
  it('unknown paths are 404, with or without credentials', async () => {
    for (const auth of [undefined, null]) {
      const r = await d.get('/api/nothing/here?x=1', { auth });
      expect({ status: r.status, json: r.json }).toEqual({ status: 404, json: { error: 'not_found', reason: 'no such path: GET /api/nothing/here' } });
    }
    expect((await d.post('/api/overview', {})).status).toBe(404);
  });

  it('JSON that does not parse is 400 saying where; a field of the wrong type is named', async () => {
    const r = await d.put('/api/queues/%2F/q', undefined, { raw: '{"durable": tru}', headers: { 'content-type': 'application/json' } });
    expect({ status: r.status, json: r.json }).toEqual({ status: 400, json: { error: 'bad_request', reason: "body is not valid JSON: Unexpected token '}'" } });
    expect((await d.put('/api/queues/%2F/q', { durable: 'yes' })).json).toEqual({ error: 'bad_request', reason: 'body.durable: must be boolean' });
    expect((await d.put('/api/queues/%2F/q', { arguments: [] })).json).toEqual({ error: 'bad_request', reason: 'body.arguments: must be object' });
    expect((await d.put('/api/queues/%2F/q', [1, 2])).json).toEqual({ error: 'bad_request', reason: 'body: must be object' });
    expect((await d.put('/api/queues/%2F/q', undefined, { raw: '{"arguments": {"__proto__": {"x": 1}}}', headers: { 'content-type': 'application/json' } })).json).toEqual({
      error: 'bad_request',
      reason: "body: key '__proto__' is not allowed",
    });
  });

  it('an empty JSON body means {} (RabbitMQ’s rule)', async () => {
    expect((await d.put('/api/queues/%2F/empty.body', undefined, { raw: '', headers: { 'content-type': 'application/json' } })).status).toBe(201);
  });

  it('a body over http_max_body_bytes is 413; a message a client could not be sent is 413 too', async () => {
    const big = await d.post('/api/definitions', { queues: [{ name: 'x'.repeat(20 * 1024) }] });
    expect({ status: big.status, json: big.json }).toEqual({ status: 413, json: { error: 'payload_too_large', reason: 'request body is larger than 16384 bytes (http_max_body_bytes)' } });
    const msg = await d.post('/api/exchanges/%2F/amq.default/publish', { routing_key: 'q', payload: 'y'.repeat(8000) });
    expect({ status: msg.status, json: msg.json }).toEqual({
      status: 413,
      json: { error: 'payload_too_large', reason: 'message of 8004 bytes is larger than the 7168 bytes a client can be sent (frame_max)' },
    });
  });

  it('state changes take JSON only: forms, text and bodies without a type are 415 (CSRF)', async () => {
    for (const type of ['application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'text/plain']) {
      const r = await d.put('/api/queues/%2F/form.q', undefined, { raw: 'durable=true', headers: { 'content-type': type } });
      expect({ status: r.status, json: r.json }, type).toEqual({ status: 415, json: { error: 'unsupported_media_type', reason: 'state changes take a JSON body (content-type: application/json)' } });
    }
    const none = await request(d.httpPort, 'POST', '/api/bindings/%2F/e/amq.direct/q/form.q');
    expect({ status: none.status, json: none.json }).toEqual({ status: 415, json: { error: 'unsupported_media_type', reason: 'state changes take a JSON body (content-type: application/json), got none' } });
    expect(d.daemon.broker.queues.has('form.q')).toBe(false);
  });

  it('writes from another origin are refused; there is no CORS', async () => {
    const r = await d.put('/api/queues/%2F/csrf.q', {}, { headers: { origin: 'http://evil.example' } });
    expect({ status: r.status, json: r.json }).toEqual({ status: 403, json: { error: 'access_refused', reason: 'cross-origin requests are refused (Origin http://evil.example)' } });
    expect(d.daemon.broker.queues.has('csrf.q')).toBe(false);
    expect((await d.put('/api/queues/%2F/csrf.q', {}, { headers: { origin: `http://127.0.0.1:${d.httpPort}` } })).status).toBe(201);
    const read = await d.get('/api/whoami', { headers: { origin: 'http://evil.example' } });
    expect(read.headers['access-control-allow-origin']).toBeUndefined();
    const preflight = await request(d.httpPort, 'OPTIONS', '/api/queues/%2F/x', { headers: { origin: 'http://evil.example', 'access-control-request-method': 'PUT' } });
    expect(preflight.status).toBe(404);
    expect(preflight.headers['access-control-allow-origin']).toBeUndefined();
    expect(read.headers['x-content-type-options']).toBe('nosniff');
    expect(read.headers['x-frame-options']).toBe('DENY');
  });

  it('a request that does not arrive in time gets 408 and a closed connection', async () => {
    const slow = await startHttpDaemon({ http: { requestTimeoutMs: 300 } });
    try {
      const socket = netConnect({ host: '127.0.0.1', port: slow.httpPort });
      let text = '';
      socket.setEncoding('utf8').on('data', (c: string) => (text += c));
      const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
      socket.write('GET /api/overview HTTP/1.1\r\nHost: x\r\n');
      await within(closed, 'the server to close the slow request', 10_000);
      expect(text).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
    } finally {
      await slow.stop();
    }
  });

  it('a long listing is streamed in chunks and is valid JSON', async () => {
    const c = await (await d.client()).channel();
    for (let i = 0; i < 700; i++) await c.declareQueue(`many.${String(i).padStart(3, '0')}`);
    const all = await d.get('/api/queues/%2F?name=many.&columns=name');
    expect(all.headers['transfer-encoding']).toBe('chunked');
    expect(all.json).toHaveLength(700);
    expect(all.json[699]).toEqual({ name: 'many.699' });
    const page = (await d.get('/api/queues/%2F?name=many.&page=2&page_size=500&columns=name')).json;
    expect({ count: page.item_count, first: page.items[0], filtered: page.filtered_count }).toEqual({ count: 200, first: { name: 'many.500' }, filtered: 700 });
    const sorted = (await d.get('/api/queues/%2F?name=many.&sort=messages&columns=name,messages')).json;
    expect(sorted).toHaveLength(700);
  });
});
