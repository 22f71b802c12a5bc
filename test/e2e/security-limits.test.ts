import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Admin, ServerError, connect, type Connection } from '../../src/client/index.js';
import { startHttpDaemon, users, type HttpDaemon } from '../helpers/http.js';

/** RabbitMQ's user limits (max-connections, max-channels) and vhost limits (max-connections, max-queues). */

let d: HttpDaemon;
const conns: Connection[] = [];
const ops = { auth: 'ops:ops-pw' };

beforeAll(async () => {
  d = await startHttpDaemon({ auth: await users([{ name: 'ops', password: 'ops-pw', admin: true }]), loginThrottle: { delayMs: 0 } });
  await d.put('/api/users/lim', { password: 'lim-pw' }, ops);
  await d.put('/api/permissions/%2F/lim', { configure: '.*', write: '.*', read: '.*' }, ops);
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

async function refusal(p: Promise<unknown>): Promise<string> {
  const e = await p.then(
    () => null,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(ServerError);
  return (e as ServerError).message;
}

describe('limits', () => {
  it("a user's max-connections refuses the next connection with NOT_ALLOWED; others are unaffected", async () => {
    expect((await d.put('/api/user-limits/lim/max-connections', { value: 1 }, ops)).status).toBe(204);
    const first = await open('lim:lim-pw');
    expect(await refusal(open('lim:lim-pw'))).toBe("NOT_ALLOWED - connection refused for user 'lim': user connection limit (1) is reached");
    await open('ops:ops-pw');
    await first.close();
    await open('lim:lim-pw');
    expect((await d.get('/api/user-limits/lim', ops)).json).toEqual([{ user: 'lim', value: { 'max-connections': 1 } }]);
    expect((await d.del('/api/user-limits/lim/max-connections', ops)).status).toBe(204);
    await open('lim:lim-pw');
  });

  it("a user's max-channels counts across the user's connections", async () => {
    await d.put('/api/user-limits/lim/max-channels', { value: 2 }, ops);
    const a = await open('lim:lim-pw');
    const b = await open('lim:lim-pw');
    await a.channel();
    await b.channel();
    expect(await refusal(a.channel())).toBe("NOT_ALLOWED - number of channels opened for user 'lim' has reached the maximum allowed limit of (2)");
    await d.del('/api/user-limits/lim/max-channels', ops);
  });

  it("the vhost's max-queues refuses a new queue (redeclaring one is fine), on the wire and over HTTP", async () => {
    const ch = await (await open('ops:ops-pw')).channel();
    const have = (await new Admin(await open('ops:ops-pw')).queues()).length;
    await d.put('/api/vhost-limits/%2F/max-queues', { value: have + 1 }, ops);
    await ch.declareQueue('lim.q1');
    await ch.declareQueue('lim.q1');
    expect(await refusal(ch.declareQueue('lim.q2'))).toBe("PRECONDITION_FAILED - cannot declare queue 'lim.q2': queue limit in vhost '/' (" + String(have + 1) + ') is reached');
    const r = await d.put('/api/queues/%2F/lim.q3', { durable: false }, ops);
    expect([r.status, r.json.reason]).toEqual([400, "406 PRECONDITION_FAILED - cannot declare queue 'lim.q3': queue limit in vhost '/' (" + String(have + 1) + ') is reached']);
    await d.put('/api/vhost-limits/%2F/max-queues', { value: -1 }, ops);
    await (await (await open('ops:ops-pw')).channel()).declareQueue('lim.q2');
  });

  it("the vhost's max-connections counts every connection", async () => {
    await d.put('/api/vhost-limits/%2F/max-connections', { value: d.daemon.registry.size }, ops);
    expect(await refusal(open('ops:ops-pw'))).toBe("NOT_ALLOWED - access to vhost '/' refused for user 'ops': connection limit (" + String(d.daemon.registry.size) + ') is reached');
    await d.del('/api/vhost-limits/%2F/max-connections', ops);
    await open('ops:ops-pw');
  });

  it('refuses unknown limits and values with the exact error', async () => {
    expect((await d.put('/api/user-limits/lim/max-queues', { value: 1 }, ops)).json).toEqual({
      error: 'bad_request',
      reason: "body.value: unknown user limit 'max-queues' (expected max-connections, max-channels)",
    });
    expect((await d.put('/api/vhost-limits/%2F/max-queues', { value: 'ten' }, ops)).json).toEqual({
      error: 'bad_request',
      reason: 'body.value: max-queues must be an integer (negative: no limit), got "ten"',
    });
    expect((await d.put('/api/user-limits/ghost/max-channels', { value: 1 }, ops)).json).toEqual({ error: 'not_found', reason: "no user 'ghost'" });
  });
});
