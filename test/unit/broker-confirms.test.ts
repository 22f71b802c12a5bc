import { beforeEach, describe, expect, it } from 'vitest';
import { NoPersistence } from '../../src/broker/persistence.js';
import { TestBroker, tick } from '../helpers/broker.js';

/** A store whose commits the test completes by hand (the Persistence interface's far side). */
class ManualCommits extends NoPersistence {
  readonly waiting: ((err: Error | null) => void)[] = [];
  override afterCommit(done: (err: Error | null) => void): void {
    this.waiting.push(done);
  }
  commit(err: Error | null = null): void {
    for (const done of this.waiting.splice(0)) done(err);
  }
}

let store: ManualCommits;
let e: TestBroker;
beforeEach(() => {
  store = new ManualCommits();
  e = new TestBroker({ persistence: store });
  e.queue('q');
  e.queue('d', { durable: true });
});

describe('publisher confirms (SPEC §3.6)', () => {
  it('acks a burst of publishes with one multiple ack', async () => {
    const { ch, sink } = e.channel();
    ch.confirmSelect();
    for (let i = 0; i < 5; i++) e.publish(ch, '', 'q', `m${i}`);
    expect(sink.confirms).toEqual([]);
    await tick();
    expect(sink.confirms).toEqual([{ seq: 5, multiple: true, ack: true }]);
    e.publish(ch, '', 'q', 'one more');
    await tick();
    expect(sink.confirms.at(-1)).toEqual({ seq: 6, multiple: false, ack: true });
  });

  it('confirms unroutable messages, after the return of a mandatory one', async () => {
    const { ch, sink } = e.channel();
    ch.confirmSelect();
    e.publish(ch, 'amq.direct', 'nowhere', 'x', { mandatory: true });
    e.publish(ch, 'amq.direct', 'nowhere', 'y');
    expect(sink.returns.map((r) => r.body)).toEqual(['x']);
    await tick();
    expect(sink.confirms).toEqual([{ seq: 2, multiple: true, ack: true }]);
  });

  it('holds a persistent message in a durable queue until its checkpoint commits, and keeps order', async () => {
    const { ch, sink } = e.channel();
    ch.confirmSelect();
    e.publish(ch, '', 'd', 'durable', { persistent: true });
    e.publish(ch, '', 'q', 'transient');
    e.publish(ch, '', 'd', 'not persistent');
    await tick();
    expect(sink.confirms).toEqual([]);
    store.commit();
    await tick();
    expect(sink.confirms).toEqual([{ seq: 3, multiple: true, ack: true }]);
  });

  it('nacks a message whose checkpoint failed and acks the rest', async () => {
    const { ch, sink } = e.channel();
    ch.confirmSelect();
    e.publish(ch, '', 'q', 'a');
    e.publish(ch, '', 'd', 'b', { persistent: true });
    e.publish(ch, '', 'q', 'c');
    store.commit(new Error('disk full'));
    await tick();
    expect(sink.confirms).toEqual([
      { seq: 1, multiple: false, ack: true },
      { seq: 2, multiple: false, ack: false },
      { seq: 3, multiple: false, ack: true },
    ]);
  });

  it('sends nothing after the channel closed', async () => {
    const { ch, sink } = e.channel();
    ch.confirmSelect();
    e.publish(ch, '', 'd', 'b', { persistent: true });
    ch.session.closeChannel(ch.id);
    store.commit();
    await tick();
    expect(sink.confirms).toEqual([]);
  });

  it('without confirm mode, sends no confirms', async () => {
    const { ch, sink } = e.channel();
    e.publish(ch, '', 'q', 'a');
    await tick();
    expect(sink.confirms).toEqual([]);
  });
});
