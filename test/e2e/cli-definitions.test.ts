import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { connect, type Connection } from '../../src/client/index.js';
import { VERSION } from '../../src/version.js';
import { spawnDaemon, stopAllDaemons, type DaemonProcess } from '../helpers/cli.js';
import { useTempDir } from '../helpers/tmp.js';

/** `skiff definitions export` from one daemon, `import` into a fresh one: the same topology. */

const tmp = useTempDir('skiff-defs-');
let source: DaemonProcess;
let owner: Connection;

beforeAll(async () => {
  source = await spawnDaemon();
  owner = await connect(`skiff://guest:guest@127.0.0.1:${source.port}`, { heartbeatMs: 0 });
  const ch = await owner.channel();
  await ch.declareExchange('d.unrouted', 'fanout', { durable: true });
  await ch.declareExchange('d.orders', 'direct', { durable: true });
  await ch.declareExchange('d.events', 'fanout');
  await ch.declareExchange('d.topic', 'topic', { durable: true, arguments: { 'alternate-exchange': 'd.unrouted' } });
  await ch.declareExchange('d.internal', 'direct', { durable: true, internal: true });
  await ch.declareExchange('d.auto', 'direct', { autoDelete: true });
  await ch.declareQueue('d.q1', { durable: true });
  await ch.declareQueue('d.q2');
  await ch.declareQueue('d.ttl', { durable: true, arguments: { 'x-message-ttl': 5000 } });
  await ch.declareQueue('d.auto-q', { autoDelete: true });
  const { queue: exclusive } = await ch.declareQueue('', { exclusive: true });
  await ch.bindQueue('d.q1', 'd.orders', 'created');
  await ch.bindQueue('d.q1', 'd.orders', 'updated');
  await ch.bindQueue('d.q2', 'd.events');
  await ch.bindQueue('d.ttl', 'd.topic', 'a.*');
  await ch.bindQueue('d.q1', 'd.auto', 'k');
  await ch.bindQueue('d.q2', 'amq.direct', 'legacy');
  await ch.bindQueue('d.q2', 'd.unrouted');
  await ch.bindQueue(exclusive, 'd.events');
  await ch.bindExchange('d.events', 'd.topic', 'x.#');
  await ch.bindExchange('d.internal', 'amq.direct', 'inward');
});
afterAll(async () => {
  await owner.close();
  await source.stop();
  await stopAllDaemons();
});
beforeEach(() => {
  expect.hasAssertions();
});

/** The topology as the admin listings show it, without per-run counters and exclusive queues. */
async function topology(d: DaemonProcess): Promise<unknown> {
  const list = async (what: string): Promise<Record<string, unknown>[]> => {
    const r = await d.cli(['list', what, '--json']);
    expect(r.code, r.stderr).toBe(0);
    return JSON.parse(r.stdout) as Record<string, unknown>[];
  };
  const queues = (await list('queues')).filter((q) => q['exclusive'] === false);
  const names = new Set(queues.map((q) => q['name']));
  return {
    // Binding counts differ by the exclusive queue's bindings, which are not exported.
    exchanges: (await list('exchanges')).map(({ bindings: _count, ...x }) => x),
    queues: queues.map((q) => ({ name: q['name'], durable: q['durable'], autoDelete: q['autoDelete'], arguments: q['arguments'] })),
    bindings: (await list('bindings')).filter((b) => b['destinationType'] === 'exchange' || names.has(b['destination'])),
  };
}

describe('definitions export -> import', () => {
  it('exports the topology as JSON, leaving out built-in exchanges and exclusive queues', async () => {
    const r = await source.cli(['definitions', 'export']);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    const d = JSON.parse(r.stdout) as { skiff_version: string; exchanges: { name: string }[]; queues: { name: string }[]; bindings: unknown[] };
    expect(d.skiff_version).toBe(VERSION);
    expect(d.exchanges.map((x) => x.name)).toEqual(['d.auto', 'd.events', 'd.internal', 'd.orders', 'd.topic', 'd.unrouted']);
    expect(d.queues).toEqual([
      { name: 'd.auto-q', durable: false, auto_delete: true, arguments: {} },
      { name: 'd.q1', durable: true, auto_delete: false, arguments: {} },
      { name: 'd.q2', durable: false, auto_delete: false, arguments: {} },
      { name: 'd.ttl', durable: true, auto_delete: false, arguments: { 'x-message-ttl': 5000 } },
    ]);
    expect(d.exchanges).toContainEqual({ name: 'd.topic', type: 'topic', durable: true, auto_delete: false, internal: false, arguments: { 'alternate-exchange': 'd.unrouted' } });
    expect(d.bindings).toContainEqual({ source: 'd.topic', destination: 'd.events', destination_type: 'exchange', routing_key: 'x.#', arguments: {} });
    expect(d.bindings).toContainEqual({ source: 'amq.direct', destination: 'd.internal', destination_type: 'exchange', routing_key: 'inward', arguments: {} });
    expect(d.bindings).toContainEqual({ source: 'amq.direct', destination: 'd.q2', destination_type: 'queue', routing_key: 'legacy', arguments: {} });
    expect(d.bindings).toHaveLength(9);
  });

  it('imports into a fresh daemon, giving the same topology and the same export', async () => {
    const file = tmp.join('defs.json');
    expect(await source.cli(['definitions', 'export', file])).toEqual({
      code: 0,
      stdout: `exported 6 exchanges, 4 queues, 9 bindings to ${file}\n`,
      stderr: '',
    });
    const target = await spawnDaemon();
    try {
      expect(await target.cli(['definitions', 'import', file])).toEqual({ code: 0, stdout: 'imported 6 exchanges, 4 queues, 9 bindings\n', stderr: '' });
      expect(await topology(target)).toEqual(await topology(source));
      expect(JSON.parse((await target.cli(['definitions', 'export'])).stdout)).toEqual(JSON.parse(readFileSync(file, 'utf8')));
      // Importing again changes nothing: everything is already there, equal.
      expect(await target.cli(['definitions', 'import', file, '--json'])).toEqual({
        code: 0,
        stdout: `${JSON.stringify({ exchanges: 6, queues: 4, bindings: 9 }, null, 2)}\n`,
        stderr: '',
      });
      expect(await topology(target)).toEqual(await topology(source));
    } finally {
      await target.stop();
    }
  });

  it("imports from stdin with '-'", async () => {
    const defs = { exchanges: [{ name: 'in.x', type: 'fanout' }], queues: [{ name: 'in.q' }], bindings: [{ source: 'in.x', destination: 'in.q' }] };
    const target = await spawnDaemon();
    try {
      expect(await target.cli(['definitions', 'import', '-'], { input: JSON.stringify(defs) })).toEqual({
        code: 0,
        stdout: 'imported 1 exchanges, 1 queues, 1 bindings\n',
        stderr: '',
      });
      expect(JSON.parse((await target.cli(['definitions', 'export'])).stdout)).toMatchObject({
        exchanges: [{ name: 'in.x', type: 'fanout', durable: false, auto_delete: false, internal: false, arguments: {} }],
        queues: [{ name: 'in.q', durable: false, auto_delete: false, arguments: {} }],
        bindings: [{ source: 'in.x', destination: 'in.q', destination_type: 'queue', routing_key: '', arguments: {} }],
      });
    } finally {
      await target.stop();
    }
  });
});

describe("definitions import of RabbitMQ's export", () => {
  it('declares the topology over the native protocol and says which sections it leaves to the HTTP API', async () => {
    const rabbit = readFileSync(new URL('../fixtures/rabbitmq-3.10-definitions.json', import.meta.url), 'utf8');
    const target = await spawnDaemon();
    try {
      expect(await target.cli(['definitions', 'import', '-'], { input: rabbit })).toEqual({
        code: 0,
        stdout: 'imported 3 exchanges, 3 queues, 4 bindings\n',
        stderr: 'skiff: warning: users, permissions, topic_permissions, policies, parameters: not imported over the native protocol; POST the file to /api/definitions to import them\n',
      });
      const queues = JSON.parse((await target.cli(['list', 'queues', '--json'])).stdout) as { name: string; arguments: Record<string, unknown> }[];
      expect(queues.find((q) => q.name === 'orders.created')?.arguments).toEqual({ 'x-dead-letter-exchange': 'orders.dlx', 'x-message-ttl': 30000 });
    } finally {
      await target.stop();
    }
  });
});

describe('definitions import: bad input', () => {
  const write = tmp.file;

  it('a file that is not JSON is a usage error naming the file', async () => {
    const path = write('broken.json', '{"exchanges": [');
    const r = await source.cli(['definitions', 'import', path]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(new RegExp(`^skiff: ${path}: not valid JSON: .+\\n$`));
  });

  it('a missing file is a usage error', async () => {
    const path = tmp.join('absent.json');
    expect(await source.cli(['definitions', 'import', path])).toEqual({ code: 2, stdout: '', stderr: `skiff: ${path}: cannot read: no such file\n` });
  });

  it('every shape problem is named by its path, on one line, before anything is declared', async () => {
    const path = write(
      'shape.json',
      JSON.stringify({
        exchanges: [{ name: 'bad.x' }],
        queues: [{ name: 'bad.q', durable: 'yes' }, 7],
        bindings: [{ destination: 'bad.q', destination_type: 'stream', routing: 'k' }],
        widgets: [],
      }),
    );
    expect(await source.cli(['definitions', 'import', path])).toEqual({
      code: 2,
      stdout: '',
      stderr:
        "skiff: definitions: 7 problems: unknown key 'widgets' (expected exchanges, queues, bindings, or a section of RabbitMQ's export); exchanges[0].type: is required; " +
        'queues[0].durable: must be a boolean, got string; queues[1]: must be an object, got number; ' +
        "bindings[0]: unknown key 'routing'; bindings[0].source: is required; bindings[0].destination_type: must be 'queue' or 'exchange', got 'stream'\n",
    });
    const queues = JSON.parse((await source.cli(['list', 'queues', '--json'])).stdout) as { name: string }[];
    expect(queues.map((q) => q.name)).not.toContain('bad.q');
  });

  it('a definition that conflicts with what exists stops the import with the server error (exit 5)', async () => {
    const path = write('conflict.json', JSON.stringify({ queues: [{ name: 'd.q2', durable: true }] }));
    expect(await source.cli(['definitions', 'import', path])).toEqual({
      code: 5,
      stdout: '',
      stderr: "skiff: PRECONDITION_FAILED - inequivalent arg 'durable' for queue 'd.q2' in vhost '/': received 'true' but current is 'false'\n",
    });
  });
});
