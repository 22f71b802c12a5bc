import { beforeEach, describe, expect, it } from 'vitest';
import { makeContent } from '../../src/broker/message.js';
import { TestBroker } from '../helpers/broker.js';

/** A message as the decoder hands it over: a view into a 64 KiB socket chunk full of others. */
const chunk = Buffer.alloc(64 * 1024);
function viewInChunk(body: string): Buffer {
  const c = makeContent(null, Buffer.from(body));
  c.copy(chunk, 1000);
  return chunk.subarray(1000, 1000 + c.length);
}

describe('memory held by waiting messages', () => {
  beforeEach(() => {
    expect.hasAssertions();
  });

  it('a message parked in a queue without consumers keeps a compact copy, not the socket chunk it came in', () => {
    const e = new TestBroker();
    e.queue('idle');
    const { ch } = e.channel();
    ch.publish('', 'idle', false, false, 0, 0, viewInChunk('tick'));
    const stored = [...(e.broker.queues.get('idle')?.ready ?? [])];
    expect(stored.map((m) => [m.body.toString(), m.content.buffer === chunk.buffer])).toEqual([['tick', false]]);
  });

  it('a message that goes straight to a consumer is passed on as the view it arrived as', () => {
    const e = new TestBroker();
    e.queue('busy');
    const { ch, sink } = e.channel();
    e.consume(ch, 'busy');
    const seen: boolean[] = [];
    const deliver = sink.deliver.bind(sink);
    sink.deliver = (tag, dtag, m) => {
      seen.push(m.content.buffer === chunk.buffer);
      deliver(tag, dtag, m);
    };
    ch.publish('', 'busy', false, false, 0, 0, viewInChunk('tick'));
    expect({ bodies: sink.bodies(), sameChunk: seen }).toEqual({ bodies: ['tick'], sameChunk: [true] });
  });

  it('fanout to several idle queues copies the bytes once, shared by all of them', () => {
    const e = new TestBroker();
    e.exchange('ticks', 'fanout');
    for (const q of ['a', 'b', 'c']) {
      e.queue(q);
      e.broker.bind(q, 'ticks', '', {}, null);
    }
    const { ch } = e.channel();
    ch.publish('ticks', '', false, false, 0, 0, viewInChunk('tick'));
    const contents = ['a', 'b', 'c'].map((q) => e.broker.queues.get(q)?.ready.peek()?.content);
    expect(new Set(contents).size).toBe(1);
    expect(contents[0]?.buffer === chunk.buffer).toBe(false);
  });
});
