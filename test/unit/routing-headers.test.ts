import { beforeEach, describe, expect, it } from 'vitest';
import { packValue } from '../../protocol/index.js';
import { TestBroker, content, thrown } from '../helpers/broker.js';

let e: TestBroker;
beforeEach(() => {
  e = new TestBroker();
  e.exchange('h', 'headers');
});

function withHeaders(headers: Record<string, unknown> | null): Buffer {
  return content('m', headers === null ? null : packValue({ headers }));
}

/** Binds a fresh queue with `args` and says whether a message with `headers` reaches it. */
function matches(args: Record<string, unknown>, headers: Record<string, unknown> | null): boolean {
  const q = e.queue('');
  e.broker.bind(q, 'h', '', args, null);
  e.broker.publish('h', 'any-key', withHeaders(headers), false, 0, 0);
  return e.ready(q).length === 1;
}

// [binding arguments, message headers (null: no properties at all), matches]
const CASES: [Record<string, unknown>, Record<string, unknown> | null, boolean][] = [
  [{ a: 1 }, { a: 1 }, true],
  [{ a: 1 }, { a: 2 }, false],
  [{ a: 1 }, { a: '1' }, false],
  [{ a: 1 }, {}, false],
  [{ a: 1 }, null, false],
  [{ a: 1, b: 'x' }, { a: 1, b: 'x', c: true }, true],
  [{ a: 1, b: 'x' }, { a: 1 }, false],
  [{ 'x-match': 'all', a: 1, b: 'x' }, { a: 1, b: 'y' }, false],
  [{ 'x-match': 'any', a: 1, b: 'x' }, { a: 1, b: 'y' }, true],
  [{ 'x-match': 'any', a: 1, b: 'x' }, { c: 1 }, false],
  [{ 'x-match': 'any' }, { a: 1 }, false], // any of nothing
  [{}, {}, true], // all of nothing
  [{}, null, true],
  [{ a: null }, { a: 'whatever' }, true], // nil: presence only
  [{ a: null }, { b: 1 }, false],
  [{ constructor: null }, {}, false], // only the message's own keys count
  [{ a: [1, 2] }, { a: [1, 2] }, true],
  [{ a: { y: 2, x: 1 } }, { a: { x: 1, y: 2 } }, true],
  [{ a: { x: 1 } }, { a: { x: 2 } }, false],
  [{ 'x-tag': 't' }, {}, true], // x- arguments are not compared
  [{ 'x-match': 'all-with-x', 'x-tag': 't' }, {}, false],
  [{ 'x-match': 'all-with-x', 'x-tag': 't' }, { 'x-tag': 't' }, true],
  [{ 'x-match': 'any-with-x', 'x-tag': 't', a: 1 }, { 'x-tag': 't' }, true],
];

describe('headers exchange matching (SPEC §3.3)', () => {
  it.each(CASES)('binding %j, headers %j → %s', (args, headers, expected) => {
    expect(matches(args, headers)).toBe(expected);
  });

  it('refuses a binding with an unknown x-match, naming the exchange', () => {
    e.queue('q');
    expect(thrown(() => e.broker.bind('q', 'h', '', { 'x-match': 3 }, null))).toEqual({
      code: 'PRECONDITION_FAILED',
      message: "invalid arg 'x-match' for binding to exchange 'h' in vhost '/': expected 'all', 'any', 'all-with-x' or 'any-with-x', got 3",
    });
  });

  it('a message whose properties are not msgpack is a SYNTAX_ERROR on publish', () => {
    e.queue('q');
    e.broker.bind('q', 'h', '', {}, null);
    // (not 0xc1: that is the tag of properties stored from AMQP, src/broker/stored-content.ts)
    const bad = content('m', Buffer.from([0xd9]));
    expect(thrown(() => e.broker.publish('h', '', bad, false, 0, 0)).code).toBe('SYNTAX_ERROR');
  });
});
