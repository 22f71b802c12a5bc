import type { ChildProcess } from 'node:child_process';
import { readdirSync, truncateSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { connect, type Channel, type Connection, type Message } from '../../src/client/index.js';
import { cleanEnv, launchServer } from '../helpers/cli.js';
import { freshDataDir, removeDataDirs } from '../helpers/durable.js';
import { streamArgs } from '../helpers/streams.js';
import { waitFor, within } from '../helpers/wait.js';

/**
 * kill -9 of a real `skiff server` with streams: every confirmed message is there after the
 * restart at the offset it had, new messages take the offsets after them, and a named
 * consumer resumes from the offset it stored (an ack followed by a confirmed publish is
 * covered by that confirm).
 */

const children = new Set<ChildProcess>();
afterAll(() => {
  for (const c of children) c.kill('SIGKILL');
  removeDataDirs();
});

async function start(dataDir: string): Promise<{ proc: ChildProcess; conn: Connection; lines: string[] }> {
  const s = launchServer(dataDir, [], cleanEnv({ SKIFF_CHECKPOINT_INTERVAL_MS: '50' }));
  children.add(s.proc);
  const port = await within(s.listening, 'the daemon to listen', 20_000);
  const conn = await connect(`skiff://guest:guest@127.0.0.1:${port}`, { heartbeatMs: 0, reconnect: false });
  return { proc: s.proc, conn, lines: s.lines };
}

async function kill9(proc: ChildProcess): Promise<void> {
  const exited = new Promise((r) => proc.once('exit', r));
  proc.kill('SIGKILL');
  await within(exited, 'the killed daemon to exit', 10_000);
  children.delete(proc);
}

async function take(ch: Channel, n: number, args: Record<string, unknown>, ack: number): Promise<Message[]> {
  const got: Message[] = [];
  let done!: () => void;
  const all = new Promise<void>((r) => (done = r));
  await ch.consume(
    's',
    (m) => {
      got.push(m);
      if (got.length <= ack) m.ack();
      if (got.length === n) done();
    },
    { prefetch: n, arguments: args },
  );
  await all;
  return got;
}

const offsetOf = (m: Message): unknown => m.properties.headers?.['x-stream-offset'];

describe('streams across kill -9', () => {
  it('confirmed messages and a stored consumer offset survive; offsets continue after them', async () => {
    const dataDir = freshDataDir();
    let { proc, conn } = await start(dataDir);
    let ch = await conn.channel();
    await ch.confirmSelect();
    await ch.declareQueue('s', { durable: true, arguments: streamArgs({ 'x-stream-max-segment-size-bytes': 4096 }) });
    await Promise.all(Array.from({ length: 200 }, (_, i) => ch.publish('', 's', `m${i}`.padEnd(50, '.'))));
    // Take 30, ack 17: the stored offset is 17.
    await take(await conn.channel(), 30, { 'x-stream-consumer-name': 'k', 'x-stream-offset': 'first' }, 17);
    await ch.publish('', 's', 'marker');
    // Unconfirmed publishes may or may not survive; they must never corrupt the log.
    for (let i = 0; i < 50; i++) void ch.publish('', 's', `late${i}`).catch(() => undefined);
    await kill9(proc);

    ({ proc, conn } = await start(dataDir));
    ch = await conn.channel();
    await ch.confirmSelect();
    const resumed = await take(await conn.channel(), 184, { 'x-stream-consumer-name': 'k' }, 0);
    expect(resumed.slice(0, 184).map(offsetOf)).toEqual(Array.from({ length: 184 }, (_, i) => 17 + i));
    expect(resumed[0]?.text()).toBe('m17'.padEnd(50, '.'));
    expect(resumed[183]?.text()).toBe('marker');
    const all = await take(await conn.channel(), 201, { 'x-stream-offset': 'first' }, 201);
    expect(all.map(offsetOf)).toEqual(Array.from({ length: 201 }, (_, i) => i));
    const info = await ch.declareQueue('s', { durable: true, arguments: streamArgs({ 'x-stream-max-segment-size-bytes': 4096 }) });
    const n = info.messageCount;
    expect(n).toBeGreaterThanOrEqual(201);
    await ch.publish('', 's', 'after');
    const last = await take(await conn.channel(), 1, { 'x-stream-offset': 'last' }, 1);
    expect([last[0]?.text(), offsetOf(last[0] as Message)]).toEqual(['after', n]);
    await conn.close();
    proc.kill('SIGTERM');
  });
});

describe('a stream write that fails', () => {
  it('is logged with the stream and the error, the publish stays unconfirmed, and the daemon serves on', async () => {
    const dataDir = freshDataDir();
    const { proc, conn, lines } = await start(dataDir);
    const ch = await conn.channel();
    await ch.confirmSelect();
    await ch.declareQueue('s', { durable: true, arguments: streamArgs() });
    await ch.publish('', 's', 'first');
    // Cut the segment under the daemon: the next append finds fewer bytes than it wrote.
    const dir = join(dataDir, 'streams', readdirSync(join(dataDir, 'streams'))[0] as string);
    truncateSync(join(dir, readdirSync(dir)[0] as string), 0);
    let confirmed = false;
    void ch.publish('', 's', 'second').then(() => (confirmed = true), () => undefined);
    await waitFor(() => lines.some((l) => l.includes('cannot write to a stream')), 'the failure in the log');
    const line = JSON.parse(lines.find((l) => l.includes('cannot write to a stream')) as string) as Record<string, unknown>;
    expect(line).toMatchObject({ level: 50, stream: 's', vhost: '/', msg: 'cannot write to a stream; its publishes are not confirmed until a retry succeeds' });
    expect(line['err']).toMatch(new RegExp(`^stream-write in '${dir}': segment 0 holds 0 bytes where \\d+ were written$`));
    expect(confirmed).toBe(false);
    const other = await conn.channel();
    expect((await other.declareQueue('still-serving')).queue).toBe('still-serving');
    await conn.close();
    await kill9(proc);
  });
});
