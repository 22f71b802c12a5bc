import amqplib from 'amqplib';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Admin, ServerError } from '../../src/client/index.js';
import { skiff } from '../helpers/cli.js';
import { freshDataDir, removeDataDirs } from '../helpers/durable.js';
import { eventually, startHttpDaemon, users, type HttpDaemon } from '../helpers/http.js';

/**
 * Policies and operator policies through the real daemon: the HTTP API, the CLI, the native
 * client and an AMQP client; precedence with `x-` arguments; restart survival; bad input.
 */

let d: HttpDaemon;
const ops = { auth: 'ops:ops-pw' };
const dataDir = freshDataDir();

async function start(): Promise<HttpDaemon> {
  return startHttpDaemon({ auth: await users([{ name: 'ops', password: 'ops-pw', admin: true }]), loginThrottle: { delayMs: 0 }, store: { dataDir } });
}

beforeAll(async () => {
  d = await start();
  await d.put('/api/users/pm', { password: 'pm-pw', tags: ['policymaker'] }, ops);
  await d.put('/api/users/mon', { password: 'mon-pw', tags: ['monitoring'] }, ops);
  for (const u of ['pm', 'mon']) await d.put(`/api/permissions/%2F/${u}`, { configure: '.*', write: '.*', read: '.*' }, ops);
});
afterAll(async () => {
  await d.stop();
  removeDataDirs();
});
beforeEach(() => {
  expect.hasAssertions();
});

const queueRow = async (name: string): Promise<Record<string, unknown>> => (await d.get(`/api/queues/%2F/${name}`, ops)).json as Record<string, unknown>;
const cli = (args: string[], user = 'ops:ops-pw') => skiff([...args, '--url', `skiff://${user}@127.0.0.1:${d.daemon.port}`]);

describe('policies over HTTP', () => {
  it('PUT applies to existing and future matching queues; GET lists; the highest priority wins; DELETE removes', async () => {
    const ch = await (await d.client('ops:ops-pw')).channel();
    await ch.declareQueue('pol.a');
    expect((await d.put('/api/policies/%2F/pol-len', { pattern: '^pol\\.', definition: { 'max-length': 5 }, 'apply-to': 'queues' }, ops)).status).toBe(201);
    await ch.declareQueue('pol.b');
    for (const q of ['pol.a', 'pol.b']) {
      const row = await queueRow(q);
      expect([row['policy'], row['effective_policy_definition']]).toEqual(['pol-len', { 'max-length': 5 }]);
    }
    expect((await d.put('/api/policies/%2F/pol-high', { pattern: '^pol\\.a$', definition: { 'max-length': 7 }, priority: 10 }, ops)).status).toBe(201);
    expect((await queueRow('pol.a'))['policy']).toBe('pol-high');
    expect((await queueRow('pol.b'))['policy']).toBe('pol-len');
    expect((await d.get('/api/policies/%2F/pol-high', ops)).json).toEqual({ vhost: '/', name: 'pol-high', pattern: '^pol\\.a$', 'apply-to': 'all', priority: 10, definition: { 'max-length': 7 } });
    expect(((await d.get('/api/policies', ops)).json as { name: string }[]).map((p) => p.name)).toEqual(['pol-high', 'pol-len']);
    expect((await d.put('/api/policies/%2F/pol-high', { pattern: '^pol\\.a$', definition: { 'max-length': 8 }, priority: 10 }, ops)).status).toBe(204);
    expect((await d.del('/api/policies/%2F/pol-high', ops)).status).toBe(204);
    expect((await d.del('/api/policies/%2F/pol-len', ops)).status).toBe(204);
    const row = await queueRow('pol.a');
    expect([row['policy'], row['effective_policy_definition']]).toEqual([null, {}]);
    const missing = await d.del('/api/policies/%2F/pol-len', ops);
    expect([missing.status, missing.json]).toEqual([404, { error: 'not_found', reason: "no policy 'pol-len' in vhost '/'" }]);
  });

  it('a new max-length drops from the head of an existing queue, keeping the order of the rest', async () => {
    const ch = await (await d.client('ops:ops-pw')).channel();
    await ch.declareQueue('len.q');
    for (let i = 1; i <= 6; i++) await ch.publish('', 'len.q', `m${i}`);
    await eventually(async () => (await ch.declareQueue('len.q', { passive: true })).messageCount, (n) => n === 6, '6 messages');
    await d.put('/api/policies/%2F/len', { pattern: '^len\\.q$', definition: { 'max-length': 2 } }, ops);
    const bodies: string[] = [];
    for (;;) {
      const m = await ch.get('len.q', { noAck: true });
      if (m === null) break;
      bodies.push(m.body.toString());
    }
    expect(bodies).toEqual(['m5', 'm6']);
    await d.del('/api/policies/%2F/len', ops);
  });

  it('a new message-ttl expires messages already queued; a dead-letter-exchange from the policy receives them', async () => {
    const ch = await (await d.client('ops:ops-pw')).channel();
    await ch.declareQueue('ttl.dead');
    await ch.declareQueue('ttl.q');
    await ch.publish('', 'ttl.q', 'old');
    await eventually(async () => (await ch.declareQueue('ttl.q', { passive: true })).messageCount, (n) => n === 1, 'the message queued');
    await d.put('/api/policies/%2F/ttl', { pattern: '^ttl\\.q$', definition: { 'message-ttl': 20, 'dead-letter-exchange': '', 'dead-letter-routing-key': 'ttl.dead' } }, ops);
    await eventually(async () => (await ch.declareQueue('ttl.dead', { passive: true })).messageCount, (n) => n === 1, 'the message dead-lettered');
    expect((await ch.get('ttl.dead', { noAck: true }))?.body.toString()).toBe('old');
    expect((await ch.declareQueue('ttl.q', { passive: true })).messageCount).toBe(0);
    await d.del('/api/policies/%2F/ttl', ops);
  });

  it("an exchange policy's alternate-exchange takes unroutable messages; the exchange's own argument wins", async () => {
    const ch = await (await d.client('ops:ops-pw')).channel();
    await ch.declareExchange('ae.x', 'direct');
    await ch.declareExchange('ae.own', 'direct', { arguments: { 'alternate-exchange': 'ae.mine' } });
    await ch.declareExchange('ae.fallback', 'fanout');
    await ch.declareExchange('ae.mine', 'fanout');
    await ch.declareQueue('ae.caught');
    await ch.declareQueue('ae.mine.q');
    await ch.bindQueue('ae.caught', 'ae.fallback', '');
    await ch.bindQueue('ae.mine.q', 'ae.mine', '');
    await d.put('/api/policies/%2F/ae', { pattern: '^ae\\.(x|own)$', definition: { 'alternate-exchange': 'ae.fallback' }, 'apply-to': 'exchanges' }, ops);
    expect(((await d.get('/api/exchanges/%2F/ae.x', ops)).json as Record<string, unknown>)['policy']).toBe('ae');
    await ch.publish('ae.x', 'nowhere', 'lost');
    await ch.publish('ae.own', 'nowhere', 'own');
    await eventually(async () => (await ch.declareQueue('ae.caught', { passive: true })).messageCount, (n) => n === 1, 'caught by the policy');
    await eventually(async () => (await ch.declareQueue('ae.mine.q', { passive: true })).messageCount, (n) => n === 1, 'caught by the argument');
    expect((await ch.get('ae.caught', { noAck: true }))?.body.toString()).toBe('lost');
    await d.del('/api/policies/%2F/ae', ops);
  });

  it('operator policies cap: the lower of policy, argument and operator policy wins', async () => {
    const ch = await (await d.client('ops:ops-pw')).channel();
    await ch.declareQueue('cap.q', { arguments: { 'x-max-length': 50 } });
    await d.put('/api/policies/%2F/cap', { pattern: '^cap\\.', definition: { 'max-length': 100, 'message-ttl': 60000 } }, ops);
    expect((await d.put('/api/operator-policies/%2F/cap-op', { pattern: '.*', definition: { 'max-length': 10, 'message-ttl': 90000 }, 'apply-to': 'queues' }, ops)).status).toBe(201);
    const row = await queueRow('cap.q');
    expect([row['policy'], row['operator_policy'], row['effective_policy_definition']]).toEqual(['cap', 'cap-op', { 'max-length': 10, 'message-ttl': 60000 }]);
    for (let i = 0; i < 12; i++) await ch.publish('', 'cap.q', `c${i}`);
    await eventually(async () => (await ch.declareQueue('cap.q', { passive: true, arguments: { 'x-max-length': 50 } })).messageCount, (n) => n === 10, '10 kept');
    expect(((await d.get('/api/operator-policies', ops)).json as { name: string }[]).map((p) => p.name)).toEqual(['cap-op']);
    const bad = await d.put('/api/operator-policies/%2F/bad', { pattern: '.*', definition: { 'dead-letter-exchange': 'x' } }, ops);
    expect([bad.status, bad.json]).toEqual([
      400,
      { error: 'bad_request', reason: "operator policy 'bad': unknown definition key 'dead-letter-exchange' (expected message-ttl, expires, max-length, max-length-bytes, delivery-limit)" },
    ]);
    await d.del('/api/operator-policies/%2F/cap-op', ops);
    await d.del('/api/policies/%2F/cap', ops);
  });

  it('bad input is 400 naming the field or key', async () => {
    const cases: [unknown, string][] = [
      [{ pattern: '(', definition: { 'max-length': 1 } }, "policy 'p': pattern '(' is not a valid regular expression: Invalid regular expression: /(/: Unterminated group"],
      [{ pattern: '.*', definition: { 'max-priority': 5 } }, "policy 'p': unknown definition key 'max-priority' (expected message-ttl, expires, max-length, max-length-bytes, overflow, dead-letter-exchange, dead-letter-routing-key, delivery-limit, alternate-exchange)"],
      [{ pattern: '.*', definition: { 'max-length': '5' } }, "policy 'p': invalid value for 'max-length': expected a non-negative integer, got '5'"],
      [{ pattern: '.*', definition: { 'message-ttl': -1 } }, "policy 'p': invalid value for 'message-ttl': expected a non-negative integer, got -1"],
      [{ pattern: '.*', definition: { expires: 0 } }, "policy 'p': invalid value for 'expires': expected a positive integer, got 0"],
      [{ pattern: '.*', definition: { overflow: 'drop-tail' } }, "policy 'p': invalid value for 'overflow': expected 'drop-head', 'reject-publish' or 'reject-publish-dlx', got 'drop-tail'"],
      [{ pattern: '.*', definition: { 'dead-letter-exchange': 5 } }, "policy 'p': invalid value for 'dead-letter-exchange': expected a string, got 5"],
      [{ pattern: '.*', definition: { 'dead-letter-routing-key': 'k' } }, "policy 'p': 'dead-letter-routing-key' requires 'dead-letter-exchange'"],
      [{ pattern: '.*', definition: { 'max-length': 1 }, 'apply-to': 'both' }, "policy 'p': apply-to must be 'queues', 'exchanges' or 'all', got 'both'"],
      [{ pattern: '.*', definition: { 'max-length': 1 }, priority: 1.5 }, "policy 'p': priority must be an integer, got 1.5"],
      [{ pattern: '.*', definition: [] }, "policy 'p': definition must be a JSON object, got []"],
      [{ pattern: '.*', definition: {} }, "policy 'p': definition must set at least one key"],
      [{ pattern: 7, definition: { 'max-length': 1 } }, "policy 'p': pattern must be a string, got 7"],
      [{ definition: { 'max-length': 1 } }, 'body.pattern: is required'],
      [{ pattern: '.*' }, 'body.definition: is required'],
      [{ pattern: '.*', definition: { 'max-length': 1 }, colour: 'red' }, 'body.colour: unknown key (expected pattern, definition, priority, apply-to)'],
    ];
    for (const [body, reason] of cases) {
      const r = await d.put('/api/policies/%2F/p', body, ops);
      expect([r.status, r.json]).toEqual([400, { error: 'bad_request', reason }]);
    }
    expect((await d.get('/api/policies', ops)).json).toEqual([]);
  });

  it('needs the policymaker or administrator tag', async () => {
    expect((await d.put('/api/policies/%2F/pm-p', { pattern: '^pm\\.', definition: { 'max-length': 1 } }, { auth: 'pm:pm-pw' })).status).toBe(201);
    expect((await d.get('/api/policies', { auth: 'pm:pm-pw' })).status).toBe(200);
    const refused = await d.put('/api/policies/%2F/mon-p', { pattern: '.*', definition: { 'max-length': 1 } }, { auth: 'mon:mon-pw' });
    expect([refused.status, refused.json]).toEqual([
      403,
      { error: 'access_refused', reason: "user 'mon' is not an administrator or policymaker; PUT /api/policies/:vhost/:name needs the administrator or policymaker tag" },
    ]);
    expect((await d.get('/api/policies', { auth: 'mon:mon-pw' })).status).toBe(403);
    const native = new Admin(await d.client('mon:mon-pw'));
    const e = await native.setPolicy('mon-p', { pattern: '.*', definition: { 'max-length': 1 } }).catch((err: unknown) => err);
    expect(e).toBeInstanceOf(ServerError);
    expect((e as ServerError).message).toBe("ACCESS_REFUSED - user 'mon' is not an administrator or policymaker; admin.put of policies needs the administrator or policymaker tag");
    const pm = new Admin(await d.client('pm:pm-pw'));
    await pm.clearPolicy('pm-p');
    expect(await pm.policies()).toEqual([]);
  });
});

describe('the native client and the CLI', () => {
  it('Admin.setPolicy / policies / clearPolicy, with exact errors', async () => {
    const admin = new Admin(await d.client('ops:ops-pw'));
    expect(await admin.setPolicy('nat', { pattern: '^nat\\.', definition: { 'max-length': 3 }, priority: 2, applyTo: 'queues' })).toBe(true);
    expect(await admin.policies()).toEqual([{ vhost: '/', name: 'nat', pattern: '^nat\\.', 'apply-to': 'queues', priority: 2, definition: { 'max-length': 3 } }]);
    const e = await admin.setPolicy('nat', { pattern: '^nat\\.', definition: { 'queue-mode': 'lazy' } }).catch((err: unknown) => err);
    expect((e as ServerError).message).toBe(
      "PRECONDITION_FAILED - policy 'nat': unknown definition key 'queue-mode' (expected message-ttl, expires, max-length, max-length-bytes, overflow, dead-letter-exchange, dead-letter-routing-key, delivery-limit, alternate-exchange)",
    );
    await admin.clearPolicy('nat');
    const gone = await admin.clearPolicy('nat').catch((err: unknown) => err);
    expect((gone as ServerError).message).toBe("NOT_FOUND - no policy 'nat' in vhost '/'");
  });

  it('skiff policy set / list policies / policy clear, and operator-policy', async () => {
    expect(await cli(['policy', 'set', 'cli-ttl', '^cli\\.', '{"message-ttl":60000}', '--priority', '3', '--apply-to', 'queues'])).toEqual({
      code: 0,
      stdout: `policy cli-ttl set: pattern '^cli\\.', apply-to queues, priority 3, {"message-ttl":60000}\n`,
      stderr: '',
    });
    const listed = await cli(['list', 'policies', '--json']);
    expect(JSON.parse(listed.stdout)).toEqual([{ vhost: '/', name: 'cli-ttl', pattern: '^cli\\.', 'apply-to': 'queues', priority: 3, definition: { 'message-ttl': 60000 } }]);
    expect((await cli(['list', 'policies'])).stdout).toContain('cli-ttl');
    expect(await cli(['operator-policy', 'set', 'cli-cap', '.*', '{"max-length":1000}'])).toMatchObject({ code: 0 });
    expect(JSON.parse((await cli(['list', 'operator-policies', '--json'])).stdout)).toEqual([
      { vhost: '/', name: 'cli-cap', pattern: '.*', 'apply-to': 'queues', priority: 0, definition: { 'max-length': 1000 } },
    ]);
    expect(await cli(['operator-policy', 'clear', 'cli-cap'])).toEqual({ code: 0, stdout: 'operator-policy cli-cap cleared\n', stderr: '' });
    expect(await cli(['policy', 'clear', 'cli-ttl'])).toEqual({ code: 0, stdout: 'policy cli-ttl cleared\n', stderr: '' });
  });

  it('the CLI refuses bad DEFINITION JSON, priority and apply-to before connecting, and prints the daemon\'s refusal', async () => {
    expect(await cli(['policy', 'set', 'x', '.*', '{nope'])).toMatchObject({ code: 2, stderr: expect.stringMatching(/^skiff: policy set: DEFINITION is not JSON: /) as unknown as string });
    expect(await cli(['policy', 'set', 'x', '.*', '[1]'])).toEqual({ code: 2, stdout: '', stderr: `skiff: policy set: DEFINITION must be a JSON object, e.g. '{"message-ttl":60000}'\n` });
    expect(await cli(['policy', 'set', 'x', '.*', '{"max-length":1}', '--priority', 'high'])).toEqual({ code: 2, stdout: '', stderr: "skiff: policy set: --priority must be an integer, got 'high'\n" });
    expect(await cli(['policy', 'set', 'x', '.*', '{"max-length":1}', '--apply-to', 'both'])).toEqual({ code: 2, stdout: '', stderr: "skiff: policy set: --apply-to must be queues, exchanges or all, got 'both'\n" });
    const refused = await cli(['policy', 'set', 'x', '(', '{"max-length":1}']);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain("policy 'x': pattern '(' is not a valid regular expression");
  });
});

describe('AMQP clients', () => {
  it("a policy's message-ttl applies to a queue amqplib declared", async () => {
    await d.put('/api/policies/%2F/amqp-ttl', { pattern: '^amqp\\.ttl$', definition: { 'message-ttl': 10 } }, ops);
    const c = await amqplib.connect(`amqp://ops:ops-pw@127.0.0.1:${d.daemon.amqp?.address?.port ?? 0}`);
    try {
      const ch = await c.createChannel();
      await ch.assertQueue('amqp.ttl', { durable: false });
      ch.sendToQueue('amqp.ttl', Buffer.from('short-lived'));
      await eventually(async () => (await ch.checkQueue('amqp.ttl')).messageCount, (n) => n === 0, 'the message expired');
      expect((await queueRow('amqp.ttl'))['effective_policy_definition']).toEqual({ 'message-ttl': 10 });
      // The argument is the client's, the policy stays the operator's: redeclaring without it is equivalent.
      await ch.assertQueue('amqp.ttl', { durable: false });
    } finally {
      await c.close();
    }
    await d.del('/api/policies/%2F/amqp-ttl', ops);
  });
});

describe('durability and definitions', () => {
  it('policies survive a restart and apply to the restored queues; definitions export them and import them', async () => {
    const ch = await (await d.client('ops:ops-pw')).channel();
    await ch.declareQueue('keep.q', { durable: true });
    await d.put('/api/policies/%2F/keep', { pattern: '^keep\\.', definition: { 'max-length': 4 }, priority: 1, 'apply-to': 'queues' }, ops);
    await d.put('/api/operator-policies/%2F/keep-op', { pattern: '^keep\\.', definition: { 'max-length': 3 } }, ops);
    await d.stop();
    d = await start();
    expect((await d.get('/api/policies', ops)).json).toEqual([{ vhost: '/', name: 'keep', pattern: '^keep\\.', 'apply-to': 'queues', priority: 1, definition: { 'max-length': 4 } }]);
    const row = await queueRow('keep.q');
    expect([row['policy'], row['operator_policy'], row['effective_policy_definition']]).toEqual(['keep', 'keep-op', { 'max-length': 3 }]);
    const defs = (await d.get('/api/definitions', ops)).json as Record<string, unknown>;
    expect(defs['policies']).toEqual([{ vhost: '/', name: 'keep', pattern: '^keep\\.', 'apply-to': 'queues', priority: 1, definition: { 'max-length': 4 } }]);
    await d.del('/api/policies/%2F/keep', ops);
    await d.del('/api/operator-policies/%2F/keep-op', ops);
    const imported = await d.post('/api/definitions', { policies: [{ vhost: '/', name: 'imp', pattern: '^keep\\.', 'apply-to': 'queues', priority: 0, definition: { 'message-ttl': 5000 } }] }, ops);
    expect(imported.status).toBeLessThan(300);
    expect((await queueRow('keep.q'))['policy']).toBe('imp');
    const badImport = await d.post('/api/definitions', { policies: [{ vhost: '/', name: 'bad', pattern: '.*', definition: { 'max-priority': 3 } }] }, ops);
    expect(badImport.status).toBe(400);
    expect(JSON.stringify(badImport.json)).toContain("policies[0]: policy 'bad': unknown definition key 'max-priority'");
    await d.del('/api/policies/%2F/imp', ops);
  });
});
