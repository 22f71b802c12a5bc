import { connect as netConnect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from '../../src/client/index.js';
import { launchServer, spawnDaemon, stopAllDaemons, cleanEnv, type DaemonProcess } from '../helpers/cli.js';
import { waitFor, within } from '../helpers/wait.js';

/**
 * What an operator meets with the `skiff` command and the daemon's log: exit codes and one-line
 * messages for mistakes, log lines that say who and what.
 */

let daemon: DaemonProcess;

beforeAll(async () => {
  daemon = await spawnDaemon([], { env: { SKIFF_DATADIR: '/tmp/nowhere', SKIFF_DATA: 'x', SKIFF_PROT: '1' } });
});
afterAll(async () => {
  expect(await daemon.stop()).toBe(0);
  await stopAllDaemons();
});

const logs = (): { level: number; msg: string; [k: string]: unknown }[] => daemon.logLines().map((l) => JSON.parse(l) as { level: number; msg: string });

describe('deleting what does not exist', () => {
  it.each(['queue', 'exchange'])('delete %s nosuch is NOT_FOUND, exit 5; --if-exists makes it exit 0', async (kind) => {
    expect(await daemon.cli(['delete', kind, 'nosuch'])).toEqual({ code: 5, stdout: '', stderr: `skiff: NOT_FOUND - no ${kind} 'nosuch' in vhost '/'\n` });
    expect(await daemon.cli(['delete', kind, 'nosuch', '--if-exists'])).toEqual({ code: 0, stdout: `no ${kind} 'nosuch'; nothing deleted\n`, stderr: '' });
  });

  it('delete queue of one that exists still deletes it, --if-exists or not', async () => {
    await daemon.cli(['declare', 'queue', 'ops.gone']);
    expect(await daemon.cli(['delete', 'queue', 'ops.gone', '--if-exists'])).toEqual({ code: 0, stdout: "deleted queue 'ops.gone' (0 messages)\n", stderr: '' });
    expect((await daemon.cli(['delete', 'queue', 'ops.gone'])).code).toBe(5);
  });
});

describe('wording', () => {
  it('purge counts in the singular for one message', async () => {
    await daemon.cli(['declare', 'queue', 'ops.one']);
    await daemon.cli(['publish', '', 'ops.one', 'x']);
    expect(await daemon.cli(['purge', 'ops.one'])).toEqual({ code: 0, stdout: "purged 1 message from 'ops.one'\n", stderr: '' });
  });

  it('declare queue without a name says the server named it and that it stays', async () => {
    const r = await daemon.cli(['declare', 'queue']);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(r.stdout).toMatch(/^declared server-named queue 'sk\.gen-[A-Za-z0-9_-]+' \(0 messages, 0 consumers\); it stays until deleted\n$/);
  });

  it('--header values are read as --argument values are: JSON when they parse, else strings', async () => {
    await daemon.cli(['declare', 'queue', 'ops.headers']);
    await daemon.cli(['publish', '', 'ops.headers', 'x', '--header', 'n=5', '--header', 's="5"', '--header', 'word=five', '--header', 'ok=true']);
    const r = await daemon.cli(['consume', 'ops.headers', '-n', '1', '--json']);
    expect((JSON.parse(r.stdout) as { properties: { headers: unknown } }).properties.headers).toEqual({ n: 5, s: '5', word: 'five', ok: true });
  });

  it('status names no alarm while publishers flow', async () => {
    const r = await daemon.cli(['status', '--json']);
    expect((JSON.parse(r.stdout) as { memory: { blocked: boolean; alarms: string[] } }).memory).toMatchObject({ blocked: false, alarms: [] });
    expect((await daemon.cli(['status'])).stdout).toMatch(/\npublishers +flowing\n/);
  });

  it('definitions export sorts argument keys, so an export kept in git diffs only when definitions change', async () => {
    const c = await connect(`skiff://guest:guest@127.0.0.1:${daemon.port}`, { heartbeatMs: 0, reconnect: false });
    const ch = await c.channel();
    await ch.declareQueue('ops.sorted', { durable: true, arguments: { 'x-message-ttl': 1000, 'x-dead-letter-exchange': 'dlx', 'x-max-length': 5 } });
    await c.close();
    const defs = JSON.parse((await daemon.cli(['definitions', 'export'])).stdout) as { queues: { name: string; arguments: Record<string, unknown> }[] };
    expect(Object.keys(defs.queues.find((q) => q.name === 'ops.sorted')?.arguments ?? {})).toEqual(['x-dead-letter-exchange', 'x-max-length', 'x-message-ttl']);
  });
});

describe('the log', () => {
  it('warns of SKIFF_* variables that are not settings, with a did-you-mean', () => {
    const warnings = logs()
      .filter((l) => l.level === 40)
      .map((l) => l.msg);
    expect(warnings).toEqual(
      expect.arrayContaining([
        'SKIFF_DATA is not a setting and is ignored (did you mean SKIFF_DATA_DIR?)',
        'SKIFF_DATADIR is not a setting and is ignored (did you mean SKIFF_DATA_DIR?)',
        'SKIFF_PROT is not a setting and is ignored (did you mean SKIFF_PORT?)',
      ]),
    );
  });

  it('"connection closed" names the user, the peer and the client', async () => {
    const c = await connect(`skiff://guest:guest@127.0.0.1:${daemon.port}`, { heartbeatMs: 0, reconnect: false, connectionName: 'ops-worker' });
    await c.close();
    await waitFor(() => logs().some((l) => l.msg === 'connection closed' && l['name'] === 'ops-worker'), 'the close to be logged');
    expect(logs().find((l) => l.msg === 'connection closed' && l['name'] === 'ops-worker')).toMatchObject({ level: 30, user: 'guest', remote: expect.stringMatching(/^127\.0\.0\.1:\d+$/) });
  });

  it('an AMQP 0-9-1 client on the native port is logged at warn, naming the protocol it tried', async () => {
    const s = netConnect({ host: '127.0.0.1', port: daemon.port });
    await new Promise((r) => s.once('connect', r));
    s.write(Buffer.from([0x41, 0x4d, 0x51, 0x50, 0, 0, 9, 1]));
    const reply = await within(
      new Promise<Buffer>((r) => s.once('data', r)),
      'the server header',
    );
    s.destroy();
    expect(reply.subarray(0, 5).toString('latin1')).toBe('SKIFF');
    await waitFor(() => logs().some((l) => l.msg.startsWith('refused a client speaking')), 'the refusal to be logged');
    expect(logs().find((l) => l.msg.startsWith('refused a client speaking'))).toMatchObject({
      level: 40,
      msg: 'refused a client speaking AMQP 0-9-1: this port speaks the Skiff native protocol',
      tried: 'AMQP 0-9-1',
    });
  });
});

describe('store refusals', () => {
  it('a second daemon on the same data directory refuses with one line that names the code', async () => {
    const second = launchServer(daemon.dataDir, [], cleanEnv());
    const code = await within(second.exited, 'the second daemon to exit', 15_000);
    expect(code).toBe(1);
    expect(second.stderr()).toMatch(/^skiff: ERR_STORE_LOCKED: .+\n$/);
  });
});
