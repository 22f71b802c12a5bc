import { createServer, type AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { QueueRow, ServerStatus } from '../../protocol/index.js';
import { ServerError, connect, type ConnectOptions, type Connection } from '../../src/client/index.js';
import { VERSION } from '../../src/version.js';
import { spawnDaemon, stopAllDaemons, skiff, type DaemonProcess } from '../helpers/cli.js';
import { within } from '../helpers/wait.js';

/**
 * The admin CLI end to end: a spawned `skiff server`, the built `skiff` binary, the real client
 * for setting up state the CLI then shows.
 */

let daemon: DaemonProcess;
const clients: Connection[] = [];

async function client(name: string, options: ConnectOptions = {}): Promise<Connection> {
  const c = await connect(`skiff://guest:guest@127.0.0.1:${daemon.port}`, { connectionName: name, heartbeatMs: 0, ...options });
  clients.push(c);
  return c;
}

beforeAll(async () => {
  daemon = await spawnDaemon();
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  expect(await daemon.stop()).toBe(0);
  await stopAllDaemons();
});
beforeEach(() => {
  expect.hasAssertions();
});

describe('topology and messages', () => {
  it('declare, bind, publish, consume, purge, delete: one line each, exit 0', async () => {
    const steps: [string[], string][] = [
      [['declare', 'exchange', 'cli.orders', 'direct', '--durable'], "declared exchange 'cli.orders' (direct)"],
      [['declare', 'queue', 'cli.created', '--durable'], "declared queue 'cli.created' (0 messages, 0 consumers)"],
      [['bind', 'cli.orders', 'cli.created', 'created'], "bound queue 'cli.created' to exchange 'cli.orders' with key 'created'"],
      [['publish', 'cli.orders', 'created', 'order 1', '--persistent'], 'published 1 message'],
      [['publish', 'cli.orders', 'created', 'order 2'], 'published 1 message'],
      [['consume', 'cli.created', '--count', '1'], 'order 1'],
      [['consume', 'cli.created', '--count', '2', '--ack'], 'order 1\norder 2'],
      [['publish', '', 'cli.created', 'via the default exchange'], 'published 1 message'],
      [['purge', 'cli.created'], "purged 1 message from 'cli.created'"],
      [['unbind', 'cli.orders', 'cli.created', 'created'], "unbound queue 'cli.created' from exchange 'cli.orders' with key 'created'"],
      [['delete', 'queue', 'cli.created'], "deleted queue 'cli.created' (0 messages)"],
      [['delete', 'exchange', 'cli.orders'], "deleted exchange 'cli.orders'"],
    ];
    for (const [args, out] of steps) {
      expect(await daemon.cli(args), args.join(' ')).toEqual({ code: 0, stdout: `${out}\n`, stderr: '' });
    }
  });

  it('publishes one message per stdin line and consumes them back in order', async () => {
    await daemon.cli(['declare', 'queue', 'cli.lines']);
    const lines = Array.from({ length: 250 }, (_, i) => `line ${i}`);
    expect(await daemon.cli(['publish', '', 'cli.lines'], { input: `${lines.join('\n')}\n` })).toEqual({
      code: 0,
      stdout: 'published 250 messages\n',
      stderr: '',
    });
    const consumed = await daemon.cli(['consume', 'cli.lines', '--count', '250', '--ack']);
    expect(consumed.code).toBe(0);
    expect(consumed.stdout).toBe(`${lines.join('\n')}\n`);
    expect(await daemon.cli(['delete', 'queue', 'cli.lines', '--if-empty'])).toMatchObject({ code: 0 });
  });

  it('consume --json prints one JSON object per line with metadata, properties and body', async () => {
    await daemon.cli(['declare', 'queue', 'cli.json']);
    await daemon.cli(['publish', '', 'cli.json', '{"id":7}', '--content-type', 'application/json', '--header', 'source=cli', '--persistent']);
    const r = await daemon.cli(['consume', 'cli.json', '-n', '1', '--ack', '--json']);
    expect(r.code).toBe(0);
    expect(r.stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as unknown)).toEqual([
      {
        exchange: '',
        routingKey: 'cli.json',
        redelivered: false,
        persistent: true,
        properties: { contentType: 'application/json', headers: { source: 'cli' } },
        body: '{"id":7}',
      },
    ]);
    await daemon.cli(['delete', 'queue', 'cli.json']);
  });

  it('consume without --ack leaves the messages in the queue, redelivered next time', async () => {
    await daemon.cli(['declare', 'queue', 'cli.peek']);
    await daemon.cli(['publish', '', 'cli.peek'], { input: 'a\nb\n' });
    expect((await daemon.cli(['consume', 'cli.peek', '-n', '2'])).stdout).toBe('a\nb\n');
    const again = await daemon.cli(['consume', 'cli.peek', '-n', '2', '--json']);
    expect(again.stdout.trimEnd().split('\n').map((l) => (JSON.parse(l) as { redelivered: boolean }).redelivered)).toEqual([true, true]);
    expect(await daemon.cli(['delete', 'queue', 'cli.peek'])).toEqual({ code: 0, stdout: "deleted queue 'cli.peek' (2 messages)\n", stderr: '' });
  });

  it('consume --count --ack takes exactly that many: the rest were never delivered', async () => {
    await daemon.cli(['declare', 'queue', 'cli.exact']);
    await daemon.cli(['publish', '', 'cli.exact'], { input: '1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n' });
    expect((await daemon.cli(['consume', 'cli.exact', '-n', '5', '--ack', '--prefetch', '2'])).stdout).toBe('1\n2\n3\n4\n5\n');
    const rest = await daemon.cli(['consume', 'cli.exact', '-n', '5', '--ack', '--json']);
    expect(rest.stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as { body: string; redelivered: boolean })).toEqual(
      ['6', '7', '8', '9', '10'].map((body) => expect.objectContaining({ body, redelivered: false }) as unknown),
    );
    await daemon.cli(['delete', 'queue', 'cli.exact', '--if-empty']);
  });

  it('--json gives machine-readable results for topology commands', async () => {
    const declared = await daemon.cli(['declare', 'queue', '--json']);
    const q = JSON.parse(declared.stdout) as { queue: string; messageCount: number; consumerCount: number; durable: boolean };
    expect(q).toEqual({ queue: expect.stringMatching(/^sk\.gen-/) as unknown, messageCount: 0, consumerCount: 0, durable: false, autoDelete: false, arguments: {} });
    expect(JSON.parse((await daemon.cli(['publish', '', q.queue, 'x', '--json'])).stdout)).toEqual({ published: 1, returned: 0 });
    expect(JSON.parse((await daemon.cli(['purge', q.queue, '--json'])).stdout)).toEqual({ purged: q.queue, messageCount: 1 });
    expect(JSON.parse((await daemon.cli(['delete', 'queue', q.queue, '--json'])).stdout)).toEqual({ deleted: q.queue, messageCount: 0 });
  });

  it('declare --argument passes typed arguments; bind --to-exchange binds exchanges', async () => {
    expect(await daemon.cli(['declare', 'queue', 'cli.ttl', '--argument', 'x-message-ttl=60000', '--argument', 'x-dead-letter-exchange=cli.dlx'])).toMatchObject({ code: 0 });
    expect(await daemon.cli(['declare', 'exchange', 'cli.up', 'topic'])).toMatchObject({ code: 0 });
    expect(await daemon.cli(['declare', 'exchange', 'cli.down', 'fanout'])).toMatchObject({ code: 0 });
    expect(await daemon.cli(['bind', 'cli.up', 'cli.down', 'a.#', '--to-exchange'])).toEqual({
      code: 0,
      stdout: "bound exchange 'cli.down' to exchange 'cli.up' with key 'a.#'\n",
      stderr: '',
    });
    expect(await daemon.cli(['bind', 'cli.down', 'cli.ttl'])).toMatchObject({ code: 0 });
    const queues = JSON.parse((await daemon.cli(['list', 'queues', '--json'])).stdout) as QueueRow[];
    expect(queues.find((q) => q.name === 'cli.ttl')?.arguments).toEqual({ 'x-message-ttl': 60000, 'x-dead-letter-exchange': 'cli.dlx' });
    const bindings = JSON.parse((await daemon.cli(['list', 'bindings', '--json'])).stdout) as unknown[];
    expect(bindings).toContainEqual({ source: 'cli.up', destination: 'cli.down', destinationType: 'exchange', routingKey: 'a.#', arguments: {} });
    expect(await daemon.cli(['publish', 'cli.up', 'a.b.c', 'through two exchanges'])).toMatchObject({ code: 0 });
    expect((await daemon.cli(['consume', 'cli.ttl', '-n', '1', '--ack'])).stdout).toBe('through two exchanges\n');
    expect(await daemon.cli(['unbind', 'cli.up', 'cli.down', 'a.#', '--to-exchange'])).toMatchObject({ code: 0 });
    expect(await daemon.cli(['declare', 'queue', 'cli.ttl', '--argument', 'x-message-ttl'])).toEqual({
      code: 2,
      stdout: '',
      stderr: "skiff: --argument: expected key=value, got 'x-message-ttl'\n",
    });
    for (const args of [['delete', 'queue', 'cli.ttl'], ['delete', 'exchange', 'cli.up'], ['delete', 'exchange', 'cli.down']]) await daemon.cli(args);
  });

  it('publish --mandatory of an unroutable message exits 5 after saying so', async () => {
    await daemon.cli(['declare', 'exchange', 'cli.nowhere', 'fanout']);
    expect(await daemon.cli(['publish', 'cli.nowhere', 'k', 'lost', '--mandatory'])).toEqual({
      code: 5,
      stdout: 'published 1 message, 1 returned unroutable\n',
      stderr: 'skiff: NO_ROUTE - 1 of 1 messages reached no queue\n',
    });
    await daemon.cli(['delete', 'exchange', 'cli.nowhere']);
  });
});

describe('status and listings', () => {
  let conn: Connection;
  beforeAll(async () => {
    conn = await client('lister');
    const ch = await conn.channel();
    await ch.declareExchange('ls.events', 'fanout', { durable: true });
    await ch.declareQueue('ls.a', { durable: true });
    await ch.declareQueue('ls.b', { autoDelete: true });
    await ch.bindQueue('ls.a', 'ls.events', '');
    await ch.bindQueue('ls.b', 'ls.events', 'x');
    await ch.confirmSelect();
    for (let i = 0; i < 3; i++) await ch.publish('ls.events', '', 'hello');
    // One unacked delivery on ls.b, held by a consumer with prefetch 1.
    const got = new Promise<void>((resolve) => void ch.consume('ls.b', () => resolve(), { prefetch: 1, tag: 'ls-consumer' }));
    await within(got, 'a delivery on ls.b');
  });

  it('status --json counts what the daemon holds', async () => {
    const r = await daemon.cli(['status', '--json']);
    expect(r.code).toBe(0);
    const s = JSON.parse(r.stdout) as ServerStatus;
    const queues = JSON.parse((await daemon.cli(['list', 'queues', '--json'])).stdout) as QueueRow[];
    expect(s).toMatchObject({
      version: VERSION,
      node: process.version,
      pid: daemon.proc.pid,
      consumers: 1,
      queues: queues.length,
      messagesReady: queues.reduce((n, q) => n + q.messagesReady, 0),
      messagesUnacked: 1,
      store: expect.anything() as unknown,
    });
    expect(s.connections).toBeGreaterThanOrEqual(2); // the lister and this CLI
    expect(s.published).toBeGreaterThanOrEqual(3);
    expect(s.delivered).toBeGreaterThanOrEqual(1);
    for (const k of ['uptimeMs', 'publishRate', 'deliverRate', 'unroutable'] as const) expect(s[k]).toBeGreaterThanOrEqual(0);
    expect(s.memory.rss).toBeGreaterThan(0);
    expect(s.memory.highWatermark).toBe(1073741824);
    expect(s.memory.blocked).toBe(false);
  });

  it('status prints aligned label/value lines for people', async () => {
    const r = await daemon.cli(['status']);
    expect(r.code).toBe(0);
    const labels = r.stdout.trimEnd().split('\n').map((l) => l.slice(0, 14).trimEnd());
    expect(labels.slice(0, 12)).toEqual([
      'version',
      'uptime',
      'connections',
      'channels',
      'consumers',
      'exchanges',
      'queues',
      'messages',
      'publish rate',
      'deliver rate',
      'memory',
      'publishers',
    ]);
    expect(r.stdout).toContain(`version       ${VERSION} (Node.js ${process.version}, pid ${daemon.proc.pid})\n`);
    expect(r.stdout).toMatch(/\nmessages      \d+ ready, 1 unacked\n/);
    expect(r.stdout).toMatch(/\nmemory        rss [\d.]+ MiB, heap [\d.]+ MiB, queued \S+ \S+ \(watermark 1\.0 GiB\)\n/);
    // The paging budgets follow the watermark: 1/4 of it in all, 1/32 per queue.
    expect(r.stdout).toMatch(/\npaging        \S+ \S+ of 256\.0 MiB in memory \(32\.0 MiB per queue\), \d+ page-ins, 0 in flight\n/);
  });

  it('list queues: an aligned table, numbers right-aligned', async () => {
    const r = await daemon.cli(['list', 'queues']);
    expect(r.code).toBe(0);
    const rows = r.stdout.trimEnd().split('\n');
    const header = rows[0] as string;
    expect(header).toMatch(/^name +durable  flags +ready  unacked  consumers  bytes$/);
    const col = (name: string): number => header.indexOf(name);
    const a = rows.find((l) => l.startsWith('ls.a ')) as string;
    const b = rows.find((l) => l.startsWith('ls.b ')) as string;
    expect(a.slice(col('durable')).startsWith('yes')).toBe(true);
    expect(b.slice(col('flags')).startsWith('auto-delete')).toBe(true);
    // Right-aligned: each number ends where its header ends.
    expect(a.slice(0, col('ready') + 'ready'.length).trimEnd().endsWith(' 3')).toBe(true);
    expect(b.slice(0, col('unacked') + 'unacked'.length).trimEnd().endsWith(' 1')).toBe(true);
    expect(b.slice(0, col('consumers') + 'consumers'.length).trimEnd().endsWith(' 1')).toBe(true);
    expect(a).toMatch(/  \d+ B$/);
    expect(rows.every((l) => l === l.trimEnd())).toBe(true);
  });

  it('list exchanges, bindings, connections and consumers as tables', async () => {
    const [x, b, c, k] = await Promise.all(['exchanges', 'bindings', 'connections', 'consumers'].map((w) => daemon.cli(['list', w])));
    expect(x?.stdout).toMatch(/^name\s+type\s+durable\s+flags\s+bindings\s+delayed\n/);
    expect(x?.stdout).toMatch(/\n\(default\)\s+direct\s+yes\s+0\n/);
    expect(x?.stdout).toMatch(/\nls\.events\s+fanout\s+yes\s+2\n/);
    expect(b?.stdout).toMatch(/^source\s+destination\s+type\s+routing key\n/);
    expect(b?.stdout).toMatch(/\nls\.events\s+ls\.a\s+queue\n/);
    expect(b?.stdout).toMatch(/\nls\.events\s+ls\.b\s+queue\s+x\n/);
    expect(c?.stdout).toMatch(/^id\s+protocol\s+user\s+vhost\s+peer\s+channels\s+publishes\s+since\s+name\n/);
    expect(c?.stdout).toMatch(/\nc\d+\s+Skiff 1\.0\s+guest\s+\/\s+127\.0\.0\.1:\d+\s+1\s+3\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\s+lister\n/);
    expect(c?.stdout).toMatch(/\nc\d+\s+Skiff 1\.0\s+guest\s+\/\s+127\.0\.0\.1:\d+\s+0\s+0\s+\S+ \S+\s+skiff-cli\n/);
    expect(k?.stdout).toMatch(/^queue\s+tag\s+connection\s+channel\s+ack\s+prefetch\s+unacked\n/);
    expect(k?.stdout).toMatch(/\nls\.b\s+ls-consumer\s+c\d+\s+1\s+manual\s+1\s+1\n?$/);
    for (const r of [x, b, c, k]) expect(r).toMatchObject({ code: 0, stderr: '' });
  });

  it('list --json prints the rows as the admin API returns them', async () => {
    const rows = JSON.parse((await daemon.cli(['list', 'consumers', '--json'])).stdout) as unknown[];
    expect(rows).toEqual([
      { queue: 'ls.b', tag: 'ls-consumer', connection: expect.stringMatching(/^c\d+$/) as unknown, channel: 1, noAck: false, exclusive: false, prefetch: 1, unacked: 1 },
    ]);
    const bindings = JSON.parse((await daemon.cli(['list', 'bindings', '--json'])).stdout) as unknown[];
    expect(bindings).toContainEqual({ source: 'ls.events', destination: 'ls.b', destinationType: 'queue', routingKey: 'x', arguments: {} });
  });

  it('close-connection closes a client with CONNECTION_FORCED and the reason', async () => {
    const victim = await client('victim', { reconnect: false });
    const rows = JSON.parse((await daemon.cli(['list', 'connections', '--json'])).stdout) as { id: string; name: string }[];
    const id = rows.find((r) => r.name === 'victim')?.id as string;
    expect(await daemon.cli(['close-connection', id, 'maintenance'])).toEqual({ code: 0, stdout: `closed connection ${id}\n`, stderr: '' });
    const cause = await within(victim.closed, 'the victim to be closed');
    expect(cause).toBeInstanceOf(ServerError);
    expect(cause).toMatchObject({ code: 'CONNECTION_FORCED', message: 'CONNECTION_FORCED - maintenance', scope: 'connection' });
  });
});

describe('failures: one line on stderr and a distinct exit code', () => {
  it('2 for usage errors', async () => {
    expect(await skiff(['frobnicate'])).toEqual({ code: 2, stdout: '', stderr: "skiff: unknown command 'frobnicate'\n" });
    expect(await daemon.cli(['list', 'widgets'])).toEqual({
      code: 2,
      stdout: '',
      stderr: "skiff: list: unknown listing 'widgets' (expected exchanges, queues, bindings, connections, consumers, users, permissions, topic-permissions, policies, operator-policies, vhosts, vhost-limits, user-limits)\n",
    });
    expect(await skiff(['status', '--port', 'http'])).toEqual({ code: 2, stdout: '', stderr: "skiff: --port: port must be an integer from 1 to 65535, got 'http'\n" });
    expect(await skiff(['status', '--url', 'amqp://x'])).toEqual({ code: 2, stdout: '', stderr: "skiff: --url: URL must start with skiff:// or skiffs:// (got 'amqp:')\n" });
    expect(await daemon.cli(['consume', 'q', '--count', '0'])).toEqual({ code: 2, stdout: '', stderr: "skiff: --count: must be a positive integer, got '0'\n" });
    expect(await daemon.cli(['publish', 'x', 'k', 'b', '--header', 'novalue'])).toEqual({ code: 2, stdout: '', stderr: "skiff: --header: expected key=value, got 'novalue'\n" });
    expect(await skiff(['purge'])).toEqual({ code: 2, stdout: '', stderr: "skiff: missing required argument 'queue'\n" });
    expect(await skiff(['status', '--bogus'])).toEqual({ code: 2, stdout: '', stderr: "skiff: unknown option '--bogus'\n" });
  });

  it('0 for --help and --version', async () => {
    expect(await skiff(['--version'])).toEqual({ code: 0, stdout: `${VERSION}\n`, stderr: '' });
    const help = await skiff(['list', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Usage: skiff list [options] <what>');
  });

  it('3 when nothing listens, naming host and port', async () => {
    const port = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as AddressInfo).port;
        s.close(() => resolve(p));
      });
    });
    expect(await skiff(['status', '-p', String(port)])).toEqual({
      code: 3,
      stdout: '',
      stderr: `skiff: connection refused by 127.0.0.1:${port} (is skiff running?)\n`,
    });
    expect(await skiff(['list', 'queues'], { env: { SKIFF_URL: `skiff://guest:guest@127.0.0.1:${port}` } })).toMatchObject({ code: 3 });
  });

  it('4 for a refused login, the same line whether the user or the password is wrong', async () => {
    const wrongPassword = await daemon.cli(['status', '--password', 'nope']);
    const wrongUser = await daemon.cli(['status', '-u', 'nobody', '--password', 'guest']);
    const viaEnv = await skiff(['status'], { env: { SKIFF_PORT: String(daemon.port), SKIFF_PASSWORD: 'nope' } });
    const expected = { code: 4, stdout: '', stderr: 'skiff: ACCESS_REFUSED - login refused: wrong username or password\n' };
    expect([wrongPassword, wrongUser, viaEnv]).toEqual([expected, expected, expected]);
  });

  it('5 when the daemon refuses the operation', async () => {
    expect(await daemon.cli(['purge', 'no.such.queue'])).toEqual({ code: 5, stdout: '', stderr: "skiff: NOT_FOUND - no queue 'no.such.queue' in vhost '/'\n" });
    expect(await daemon.cli(['close-connection', 'c99999'])).toEqual({ code: 5, stdout: '', stderr: "skiff: NOT_FOUND - no connection 'c99999'\n" });
    expect(await daemon.cli(['declare', 'exchange', 'amq.mine', 'direct'])).toEqual({
      code: 5,
      stdout: '',
      stderr: "skiff: ACCESS_REFUSED - exchange name 'amq.mine' contains reserved prefix 'amq.*'\n",
    });
    expect(await daemon.cli(['publish', 'no.such.exchange', 'k', 'body'])).toEqual({
      code: 5,
      stdout: '',
      stderr: "skiff: NOT_FOUND - no exchange 'no.such.exchange' in vhost '/'\n",
    });
  });
});
