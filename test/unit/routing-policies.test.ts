import { afterEach, describe, expect, it, vi } from 'vitest';
import { packValue, unpackProperties } from '../../protocol/index.js';
import { deadLetter, isCycle, type DeathRecord } from '../../src/broker/dead-letter.js';
import { ExpiryIndex } from '../../src/broker/expiry.js';
import { Message, ReadyState, makeContent } from '../../src/broker/message.js';
import { PriorityList } from '../../src/broker/priority-list.js';
import { parseQueueArguments } from '../../src/broker/queue-args.js';
import { TestBroker, content } from '../helpers/broker.js';

let nextId = 1;
function msg(body: string, options: { expiresAt?: number; priority?: number; props?: Record<string, unknown>; expiration?: number } = {}): Message {
  const props = options.props === undefined ? null : packValue(options.props);
  const m = new Message(nextId++, 'ex', 'rk', makeContent(props, Buffer.from(body)), false, options.priority ?? 0, options.expiration ?? 0);
  m.expiresAt = options.expiresAt ?? 0;
  m.readyState = ReadyState.Ready;
  return m;
}

describe('ExpiryIndex', () => {
  it('pops in expiry order whether messages arrived in order (FIFO) or not (heap)', () => {
    const index = new ExpiryIndex();
    const times = [100, 200, 200, 50, 300, 10, 250, 400];
    for (const t of times) index.add(msg(`t${t}`, { expiresAt: t }));
    expect(index.nextAt()).toBe(10);
    const out: number[] = [];
    index.popExpired(260, (m) => out.push(m.expiresAt));
    expect(out).toEqual([10, 50, 100, 200, 200, 250]);
    expect(index.nextAt()).toBe(300);
    index.popExpired(1000, (m) => out.push(m.expiresAt));
    expect(out.slice(6)).toEqual([300, 400]);
    expect(index.size).toBe(0);
  });

  it('expires strictly after expiresAt, skips messages no longer ready, and indexes a message once', () => {
    const index = new ExpiryIndex();
    const a = msg('a', { expiresAt: 100 });
    const b = msg('b', { expiresAt: 100 });
    index.add(a);
    index.add(a);
    index.add(b);
    expect(index.size).toBe(2);
    b.readyState = ReadyState.Out; // delivered
    const out: string[] = [];
    index.popExpired(100, (m) => out.push(m.body.toString()));
    expect(out).toEqual([]);
    index.popExpired(101, (m) => out.push(m.body.toString()));
    expect(out).toEqual(['a']);
    expect([a.indexed, b.indexed]).toEqual([false, false]);
  });

  it('compacts entries of delivered messages once they dominate, keeping the live ones', () => {
    const index = new ExpiryIndex();
    const all = Array.from({ length: 1000 }, (_, i) => msg(`m${i}`, { expiresAt: 1000 + ((i * 7) % 13) }));
    for (const m of all) index.add(m);
    for (const m of all.slice(10)) m.readyState = ReadyState.Out;
    index.compactIfSparse(10);
    expect(index.size).toBe(10);
    const out: string[] = [];
    index.popExpired(Infinity, (m) => out.push(m.body.toString()));
    expect(out.sort()).toEqual(all.slice(0, 10).map((m) => m.body.toString()).sort());
  });
});

describe('PriorityList', () => {
  it('shifts the highest level first, FIFO within a level; unshift puts back at the head of its level', () => {
    const list = new PriorityList(3);
    for (const [b, p] of [['a', 0], ['b', 3], ['c', 1], ['d', 3], ['e', 9]] as const) list.push(msg(b, { priority: p }));
    expect(list.length).toBe(5);
    expect([...list].map((m) => m.body.toString())).toEqual(['b', 'd', 'e', 'c', 'a']);
    const first = list.shift() as Message;
    list.unshift(first);
    expect(list.peek()?.body.toString()).toBe('b');
    expect(list.drain().map((m) => m.body.toString())).toEqual(['b', 'd', 'e', 'c', 'a']);
    expect([list.length, list.shift()]).toEqual([0, undefined]);
  });
});

describe('dead-letter records', () => {
  const at = 1_700_000_000_000;

  it('adds a record, then bumps and moves it to the front when the same queue and reason repeat', () => {
    const m1 = msg('job', { props: { contentType: 'application/json', headers: { keep: 1 } }, expiration: 500 });
    const first = deadLetter(m1, 'work', 'expired', at);
    expect(first.deaths).toEqual([{ queue: 'work', reason: 'expired', count: 1, time: at, exchange: 'ex', 'routing-keys': ['rk'], 'original-expiration': 500 }]);
    const m2 = new Message(nextId++, 'dlx', 'retry', first.content, false);
    const second = deadLetter(m2, 'retry', 'rejected', at + 1);
    const m3 = new Message(nextId++, 'dlx', 'work', second.content, false);
    const third = deadLetter(m3, 'work', 'expired', at + 2);
    expect(third.deaths.map((d) => [d.queue, d.reason, d.count, d.time])).toEqual([
      ['work', 'expired', 2, at],
      ['retry', 'rejected', 1, at + 1],
    ]);
    const decoded = new Message(0, '', '', third.content, false);
    expect(decoded.body.toString()).toBe('job');
    const props = unpackProperties(decoded.propsBytes);
    expect(props['contentType']).toBe('application/json');
    expect(props['headers']).toMatchObject({
      keep: 1,
      'x-first-death-queue': 'work',
      'x-first-death-reason': 'expired',
      'x-first-death-exchange': 'ex',
      'x-last-death-queue': 'work',
      'x-last-death-reason': 'expired',
      'x-last-death-exchange': 'dlx',
    });
  });

  it('keeps content it cannot decode as it was', () => {
    const m = new Message(1, 'ex', 'rk', makeContent(Buffer.from([0xc1]), Buffer.from('b')), false);
    expect(deadLetter(m, 'q', 'rejected', at)).toEqual({ content: m.content, deaths: [] });
  });

  it('a cycle is a return to a queue with no rejection on the way', () => {
    const d = (queue: string, reason: DeathRecord['reason']): DeathRecord => ({ queue, reason, count: 1, time: 0, exchange: '', 'routing-keys': [] });
    expect(isCycle('expired', [d('a', 'expired')], 'a')).toBe(true);
    expect(isCycle('expired', [d('b', 'expired'), d('a', 'maxlen')], 'a')).toBe(true);
    expect(isCycle('expired', [d('b', 'expired'), d('a', 'rejected')], 'a')).toBe(false);
    expect(isCycle('expired', [d('b', 'expired')], 'a')).toBe(false);
    expect(isCycle('rejected', [d('a', 'rejected')], 'a')).toBe(false);
  });
});

describe('queue arguments', () => {
  it('no x- argument means no policy (the plain hot path)', () => {
    expect(parseQueueArguments('q', {})).toBeNull();
    expect(parseQueueArguments('q', { comment: 'x' })).toBeNull();
    expect(parseQueueArguments('q', { 'x-max-length': 0 })).toMatchObject({ maxLength: 0, overflow: 'drop-head', messageTtl: null });
  });
});

describe('TTL with vitest fake timers (the default system clock)', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('expires on the faked setTimeout and Date', () => {
    vi.useFakeTimers();
    const e = new TestBroker();
    e.queue('q', { arguments: { 'x-message-ttl': 1000 } });
    e.broker.publish('', 'q', content('old'), false, 0, 0);
    vi.advanceTimersByTime(500);
    e.broker.publish('', 'q', content('new'), false, 0, 0);
    vi.advanceTimersByTime(501);
    expect(e.ready('q')).toEqual(['new']);
    vi.advanceTimersByTime(500);
    expect(e.ready('q')).toEqual([]);
    expect(vi.getTimerCount()).toBe(0);
  });
});
