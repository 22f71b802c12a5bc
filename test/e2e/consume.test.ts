import { describe, expect, it } from 'vitest';
import type { Channel, Connection, Message } from '../../src/client/index.js';
import { Method } from '../../protocol/index.js';
import { contentFrame } from '../helpers/frames.js';
import { useServer } from '../helpers/server.js';
import { Collector, waitFor, within } from '../helpers/wait.js';

const server = useServer();

async function publisher(conn?: Connection): Promise<Channel> {
  const ch = await (conn ?? (await server().connect())).channel();
  await ch.confirmSelect();
  return ch;
}

async function publishAll(ch: Channel, queue: string, n: number, prefix = 'm'): Promise<void> {
  await Promise.all(Array.from({ length: n }, (_, i) => ch.publish('', queue, `${prefix}${i + 1}`)));
}

describe('consuming over TCP with the real client', () => {
  it('competing consumers on different connections are served round robin', async () => {
    const pub = await publisher();
    await pub.declareQueue('work');
    const got = [new Collector<string>(), new Collector<string>(), new Collector<string>()];
    for (const c of got) {
      const ch = await (await server().connect()).channel();
      await ch.consume('work', (m) => {
        c.push(m.text());
        m.ack();
      });
    }
    await publishAll(pub, 'work', 30);
    const seen = await Promise.all(got.map((c) => c.take(10)));
    expect(seen.flat().sort()).toEqual(Array.from({ length: 30 }, (_, i) => `m${i + 1}`).sort());
    // Each consumer's share comes in queue order, one in three.
    for (const s of seen) {
      const n = s.map((b) => Number(b.slice(1)));
      expect(n.every((v, i) => i === 0 || v - (n[i - 1] as number) === 3)).toBe(true);
    }
  });

  it('prefetch: a consumer holds at most N unacked; acking lets more through', async () => {
    const pub = await publisher();
    await pub.declareQueue('q');
    await publishAll(pub, 'q', 10);
    const ch = await (await server().connect()).channel();
    const got = new Collector<Message>();
    await ch.consume('q', got.push, { prefetch: 3 });
    await got.take(3);
    // Prove no fourth is on its way: a round trip on the same channel comes back after any
    // delivery the server had written before it.
    await ch.declareQueue('q', { passive: true });
    expect(got.length).toBe(3);
    got.items[0]?.ack();
    await got.take(4);
    await ch.declareQueue('q', { passive: true });
    expect(got.length).toBe(4);
    got.items[3]?.ack(true);
    expect((await got.take(7)).map((m) => m.text())).toEqual(['m1', 'm2', 'm3', 'm4', 'm5', 'm6', 'm7']);
  });

  it('global prefetch limits the channel across consumers', async () => {
    const pub = await publisher();
    await pub.declareQueue('a');
    await pub.declareQueue('b');
    await publishAll(pub, 'a', 5);
    await publishAll(pub, 'b', 5);
    const ch = await (await server().connect()).channel();
    await ch.prefetch(4, true);
    const got = new Collector<Message>();
    await ch.consume('a', got.push);
    await ch.consume('b', got.push);
    await got.take(4);
    await ch.declareQueue('a', { passive: true });
    expect(got.length).toBe(4);
  });

  it('nack and reject with requeue come back redelivered; without requeue they are gone', async () => {
    const pub = await publisher();
    await pub.declareQueue('q');
    await publishAll(pub, 'q', 4);
    const ch = await (await server().connect()).channel();
    const got = new Collector<Message>();
    const consumer = await ch.consume('q', got.push, { prefetch: 4 });
    const [m1, m2, m3, m4] = await got.take(4);
    await consumer.cancel();
    m1?.nack(); // requeue defaults to true
    m2?.reject(false);
    m3?.nack(false);
    m4?.reject();
    const again = [await ch.get('q'), await ch.get('q'), await ch.get('q')];
    expect(again.map((m) => m && [m.text(), m.redelivered])).toEqual([['m1', true], ['m4', true], null]);
    again[1]?.ack(true);
    await ch.declareQueue('q', { passive: true });
  });

  it('ack multiple settles everything up to the tag', async () => {
    const pub = await publisher();
    await pub.declareQueue('q');
    await publishAll(pub, 'q', 5);
    const ch = await (await server().connect()).channel();
    const got = new Collector<Message>();
    const consumer = await ch.consume('q', got.push);
    const ms = await got.take(5);
    await consumer.cancel();
    ms[2]?.ack(true);
    await ch.close();
    const check = await (await server().connect()).channel();
    const back = [await check.get('q', { noAck: true }), await check.get('q', { noAck: true }), await check.get('q')];
    expect(back.map((m) => m && [m.text(), m.redelivered])).toEqual([['m4', true], ['m5', true], null]);
  });

  it('get on an empty queue resolves null; get-ok carries the count left', async () => {
    const pub = await publisher();
    await pub.declareQueue('q');
    expect(await pub.get('q')).toBeNull();
    await publishAll(pub, 'q', 2);
    const m = await pub.get('q', { noAck: true });
    expect([m?.text(), m?.messageCount, m?.redelivered, m?.deliveryTag]).toEqual(['m1', 1, false, 1]);
  });

  it('the async iterator yields in order and cancels the consumer on break', async () => {
    const pub = await publisher();
    await pub.declareQueue('q');
    await publishAll(pub, 'q', 5);
    const ch = await (await server().connect()).channel();
    const texts: string[] = [];
    for await (const m of ch.messages('q', { prefetch: 2 })) {
      texts.push(m.text());
      m.ack();
      if (texts.length === 3) break;
    }
    expect(texts).toEqual(['m1', 'm2', 'm3']);
    const info = await ch.declareQueue('q', { passive: true });
    expect(info.consumerCount).toBe(0);
    // m4 may have been delivered into the iterator's buffer before the break: it is unacked
    // until the channel closes, then back at the head.
    await ch.close();
    const rest = [await pub.get('q', { noAck: true }), await pub.get('q', { noAck: true })];
    expect(rest.map((m) => m?.text())).toEqual(['m4', 'm5']);
  });

  it('the async iterator of a missing queue throws NOT_FOUND out of the loop', async () => {
    const ch = await (await server().connect()).channel();
    const loop = async (): Promise<number> => {
      let n = 0;
      for await (const _ of ch.messages('nope')) n++;
      return n;
    };
    await expect(loop()).rejects.toMatchObject({ code: 'NOT_FOUND', message: "NOT_FOUND - no queue 'nope' in vhost '/'" });
  });

  it('the async iterator ends when the server cancels the consumer (queue deleted)', async () => {
    const pub = await publisher();
    await pub.declareQueue('q');
    await publishAll(pub, 'q', 1);
    const ch = await (await server().connect()).channel();
    const texts: string[] = [];
    const done = (async () => {
      for await (const m of ch.messages('q', { noAck: true })) {
        texts.push(m.text());
        if (texts.length === 1) await pub.deleteQueue('q');
      }
    })();
    await within(done, 'the iterator to end');
    expect(texts).toEqual(['m1']);
    expect(ch.isOpen).toBe(true);
  });

  it('unacked messages are requeued, redelivered, when the consumer closes its channel', async () => {
    const pub = await publisher();
    await pub.declareQueue('q');
    await publishAll(pub, 'q', 3);
    const ch = await (await server().connect()).channel();
    const got = new Collector<Message>();
    await ch.consume('q', got.push);
    (await got.take(3))[1]?.ack();
    await ch.close();
    const back = [await pub.get('q', { noAck: true }), await pub.get('q', { noAck: true })];
    expect(back.map((m) => m && [m.text(), m.redelivered])).toEqual([['m1', true], ['m3', true]]);
  });

  it("unacked messages are requeued when a consumer's connection drops, and go to another consumer", async () => {
    const ts = server();
    const pub = await publisher();
    await pub.declareQueue('q');
    await publishAll(pub, 'q', 4);
    // The dying consumer is a bare socket, so it can vanish without a close handshake.
    const raw = await ts.raw();
    await raw.openChannel(1);
    raw.sendMethod(1, Method.BasicQos, [2]);
    await raw.expect(Method.BasicQosOk);
    raw.sendMethod(1, Method.BasicConsume, ['q', 'doomed']);
    await raw.expect(Method.BasicConsumeOk);
    const delivered = [await raw.expect(Method.BasicDeliver), await raw.expect(Method.BasicDeliver)];
    expect(delivered.map((d) => d.args[1])).toEqual([1, 2]);
    const survivor = await (await server().connect()).channel();
    const got = new Collector<Message>();
    await survivor.consume('q', (m) => {
      got.push(m);
      m.ack();
    });
    raw.destroy();
    const all = await got.take(4);
    expect(all.map((m) => [m.text(), m.redelivered]).sort()).toEqual([
      ['m1', true],
      ['m2', true],
      ['m3', false],
      ['m4', false],
    ]);
    await waitFor(() => ts.broker.sessions.size === 2, 'the dropped session to be cleaned up');
  });

  it('a publish from a bare socket reaches a real consumer', async () => {
    const ts = server();
    const ch = await (await ts.connect()).channel();
    await ch.declareQueue('q');
    const got = new Collector<Message>();
    await ch.consume('q', got.push, { noAck: true });
    const raw = await ts.raw();
    await raw.openChannel(1);
    raw.send(contentFrame(1, Method.BasicPublish, ['', 'q'], 'from raw', { contentType: 'text/plain' }));
    const [m] = await got.take(1);
    expect([m?.text(), m?.properties.contentType]).toEqual(['from raw', 'text/plain']);
  });
});
