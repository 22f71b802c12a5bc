import { beforeEach, describe, expect, it } from 'vitest';
import { TestBroker, content } from '../helpers/broker.js';

let e: TestBroker;
beforeEach(() => {
  e = new TestBroker();
  e.exchange('t', 'topic');
});

/** Binds a fresh queue with `bindingKey` and says whether a message with `routingKey` reaches it. */
function matches(bindingKey: string, routingKey: string): boolean {
  const q = e.queue('');
  e.broker.bind(q, 't', bindingKey, {}, null);
  e.broker.publish('t', routingKey, content('m'), false, 0, 0);
  return e.ready(q).length === 1;
}

// [binding key, routing key, matches] — RabbitMQ's rules: "" is zero words, every "." splits
// two words (which may be empty), "*" is exactly one word, "#" zero or more.
const CASES: [string, string, boolean][] = [
  ['a.b.c', 'a.b.c', true],
  ['a.b.c', 'a.b', false],
  ['a.b.c', 'a.b.c.d', false],
  ['a.b.c', 'A.b.c', false],
  ['', '', true],
  ['', 'a', false],
  ['*', 'a', true],
  ['*', '', false],
  ['*', 'a.b', false],
  ['*', '.', false],
  ['*.*', '.', true],
  ['a.*', 'a.', true],
  ['a.*', 'a', false],
  ['*.a', '.a', true],
  ['a..b', 'a..b', true],
  ['a..b', 'a.b', false],
  ['a.*.b', 'a..b', true],
  ['#', '', true],
  ['#', 'a', true],
  ['#', 'a.b.c', true],
  ['#', '..', true],
  ['#.#', '', true],
  ['#.#', 'a.b', true],
  // # at the end
  ['a.#', 'a', true],
  ['a.#', 'a.b', true],
  ['a.#', 'a.b.c', true],
  ['a.#', 'a.', true],
  ['a.#', 'b.a', false],
  ['a.#', 'ab', false],
  // # at the start
  ['#.a', 'a', true],
  ['#.a', 'b.a', true],
  ['#.a', 'b.c.a', true],
  ['#.a', '.a', true],
  ['#.a', 'a.b', false],
  // # in the middle
  ['a.#.b', 'a.b', true],
  ['a.#.b', 'a.x.b', true],
  ['a.#.b', 'a.x.y.b', true],
  ['a.#.b', 'a.b.c', false],
  ['a.#.b', 'a', false],
  ['a.#.#.b', 'a.b', true],
  ['#.b.#', 'b', true],
  ['#.b.#', 'a.b.c', true],
  ['#.b.#', 'a.c', false],
  ['#.a.#.a', 'a.a', true],
  ['#.a.#.a', 'x.a.y.z.a', true],
  ['#.a.#.a', 'a', false],
  ['*.#', '', false],
  ['*.#', 'a', true],
  ['*.#', 'a.b.c', true],
  ['#.*', 'a', true],
  ['#.*', '', false],
  ['*.b.#', 'a.b', true],
  ['*.b.#', 'a.b.c.d', true],
  ['*.b.#', 'b', false],
  ['a.*.#', 'a', false],
  ['a.*.#', 'a.b', true],
  // wildcards only count as whole words
  ['a*', 'ab', false],
  ['a*', 'a*', true],
  ['a#', 'a.b', false],
];

describe('topic exchange matching (SPEC §3.3)', () => {
  it.each(CASES)('binding %j, routing key %j → %s', (bindingKey, routingKey, expected) => {
    expect(matches(bindingKey, routingKey)).toBe(expected);
  });

  it('delivers one copy to a queue that several of its binding keys match', () => {
    const q = e.queue('q');
    for (const k of ['#', 'a.*', 'a.b', '*.b', 'a.#.b']) e.broker.bind(q, 't', k, {}, null);
    expect(e.broker.publish('t', 'a.b', content('x'), false, 0, 0).routed).toBe(1);
    expect(e.ready('q')).toEqual(['x']);
  });

  it('stops routing once unbound, also for a key answered before (no stale cache)', () => {
    const q = e.queue('q');
    e.broker.bind(q, 't', 'a.*', {}, null);
    e.broker.bind(q, 't', 'a.#', {}, null);
    expect(e.broker.publish('t', 'a.b', content('1'), false, 0, 0).routed).toBe(1);
    e.broker.unbind(q, 't', 'a.*', null);
    expect(e.broker.publish('t', 'a.b', content('2'), false, 0, 0).routed).toBe(1);
    e.broker.unbind(q, 't', 'a.#', null);
    expect(e.broker.publish('t', 'a.b', content('3'), false, 0, 0).routed).toBe(0);
    e.broker.bind(q, 't', 'a.b', {}, null);
    expect(e.broker.publish('t', 'a.b', content('4'), false, 0, 0).routed).toBe(1);
    expect(e.ready('q')).toEqual(['1', '2', '4']);
  });

  it('keeps a route while another binding key with the same meaning remains (# vs #.#)', () => {
    const q = e.queue('q');
    e.broker.bind(q, 't', '#', {}, null);
    e.broker.bind(q, 't', '#.#', {}, null);
    e.broker.unbind(q, 't', '#', null);
    expect(e.broker.publish('t', 'x.y', content('1'), false, 0, 0).routed).toBe(1);
    e.broker.unbind(q, 't', '#.#', null);
    expect(e.broker.publish('t', 'x.y', content('2'), false, 0, 0).routed).toBe(0);
  });

  it('routes among 10,000 bindings to exactly the matching queues', () => {
    const queues = ['q0', 'q1', 'q2', 'q3'];
    for (const q of queues) e.queue(q);
    for (let i = 0; i < 10_000; i++) e.broker.bind(`q${i % 4}`, 't', `stock.s${i}.*`, {}, null);
    e.broker.bind('q0', 't', 'stock.#', {}, null);
    expect(e.broker.publish('t', 'stock.s4242.trade', content('a'), false, 0, 0).routed).toBe(2);
    expect(e.broker.publish('t', 'stock.s4243.trade', content('b'), false, 0, 0).routed).toBe(2);
    expect(e.broker.publish('t', 'stock.s4243', content('c'), false, 0, 0).routed).toBe(1);
    expect(queues.map((q) => e.ready(q))).toEqual([['a', 'b', 'c'], [], ['a'], ['b']]);
  });
});
