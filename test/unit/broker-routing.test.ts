import { beforeEach, describe, expect, it } from 'vitest';
import { ReplyCode } from '../../protocol/index.js';
import { TestBroker, content, thrown } from '../helpers/broker.js';

let e: TestBroker;
beforeEach(() => {
  e = new TestBroker();
});

function route(exchange: string, key: string): number {
  return e.broker.publish(exchange, key, content(`${exchange}/${key}`), false, 0, 0).routed;
}

describe('routing (SPEC §3.3)', () => {
  it('direct: exact routing-key match only', () => {
    e.exchange('x', 'direct');
    e.queue('a');
    e.queue('b');
    e.broker.bind('a', 'x', 'red', {}, null);
    e.broker.bind('b', 'x', 'green', {}, null);
    e.broker.bind('b', 'x', 'red', {}, null);
    expect(route('x', 'red')).toBe(2);
    expect(route('x', 'green')).toBe(1);
    expect(route('x', 'Red')).toBe(0);
    expect(route('x', '')).toBe(0);
    expect(e.ready('a')).toEqual(['x/red']);
    expect(e.ready('b')).toEqual(['x/red', 'x/green']);
    expect(e.broker.stats().unroutable).toBe(2);
  });

  it('fanout: every bound queue, whatever the key', () => {
    e.exchange('f', 'fanout');
    for (const q of ['a', 'b', 'c']) {
      e.queue(q);
      e.broker.bind(q, 'f', q === 'a' ? 'ignored' : '', {}, null);
    }
    expect(route('f', 'anything')).toBe(3);
    for (const q of ['a', 'b', 'c']) expect(e.ready(q)).toEqual(['f/anything']);
  });

  it('the default exchange routes to the queue named by the key', () => {
    e.queue('jobs');
    expect(route('', 'jobs')).toBe(1);
    expect(route('', 'missing')).toBe(0);
    expect(e.ready('jobs')).toEqual(['/jobs']);
  });

  it('a queue bound twice gets one copy', () => {
    e.exchange('f', 'fanout');
    e.exchange('d', 'direct');
    e.queue('q');
    e.broker.bind('q', 'f', 'one', {}, null);
    e.broker.bind('q', 'f', 'two', {}, null);
    e.broker.bind('q', 'd', 'k', {}, null);
    e.broker.bind('q', 'd', 'k', {}, null);
    expect(route('f', 'one')).toBe(1);
    expect(route('d', 'k')).toBe(1);
    expect(e.ready('q')).toEqual(['f/one', 'd/k']);
    expect(e.broker.bindings().filter((b) => b.exchange === 'd')).toHaveLength(1);
  });

  it('each queue of a multi-queue route gets its own message state, sharing the bytes', () => {
    e.exchange('f', 'fanout');
    e.queue('a');
    e.queue('b');
    e.broker.bind('a', 'f', '', {}, null);
    e.broker.bind('b', 'f', '', {}, null);
    route('f', '');
    const [ma, mb] = ['a', 'b'].map((q) => e.broker.queues.get(q)?.ready.peek());
    expect(ma).not.toBe(mb);
    expect(ma?.content).toBe(mb?.content);
  });

  it('unbind stops routing; unbinding a binding that does not exist succeeds', () => {
    e.exchange('x', 'direct');
    e.queue('q');
    e.broker.bind('q', 'x', 'k', {}, null);
    e.broker.unbind('q', 'x', 'k', null);
    e.broker.unbind('q', 'x', 'never-bound', null);
    expect(route('x', 'k')).toBe(0);
  });

  it('deleting a queue removes its bindings; deleting an exchange removes its bindings', () => {
    e.exchange('x', 'direct');
    e.exchange('y', 'fanout');
    e.queue('q');
    e.queue('r');
    e.broker.bind('q', 'x', 'k', {}, null);
    e.broker.bind('r', 'y', '', {}, null);
    expect(e.broker.deleteQueue('q', false, false, null)).toBe(0);
    expect(route('x', 'k')).toBe(0);
    e.broker.deleteExchange('y', false);
    expect(e.broker.bindings()).toEqual([]);
    expect(e.broker.queues.get('r')?.boundTo.size).toBe(0);
  });

  it('the built-in amq.direct and amq.fanout exist and route', () => {
    e.queue('q');
    e.broker.bind('q', 'amq.direct', 'k', {}, null);
    e.broker.bind('q', 'amq.fanout', '', {}, null);
    expect(route('amq.direct', 'k')).toBe(1);
    expect(route('amq.fanout', 'z')).toBe(1);
  });

  it('publishing to a missing exchange is NOT_FOUND', () => {
    expect(thrown(() => route('nope', 'k'))).toEqual({ code: 'NOT_FOUND', message: "no exchange 'nope' in vhost '/'" });
  });

  it('publishing to an internal exchange is ACCESS_REFUSED', () => {
    e.exchange('inner', 'fanout', { internal: true });
    expect(thrown(() => route('inner', ''))).toEqual({
      code: 'ACCESS_REFUSED',
      message: "cannot publish to internal exchange 'inner'",
    });
  });
});

describe('mandatory (SPEC §3.5.5)', () => {
  it('an unroutable mandatory message is returned with NO_ROUTE; without mandatory it is dropped', () => {
    const { ch, sink } = e.channel();
    e.exchange('x', 'direct');
    e.publish(ch, 'x', 'nowhere', 'lost', { mandatory: true });
    e.publish(ch, 'x', 'nowhere', 'dropped');
    expect(sink.returns).toEqual([{ code: ReplyCode.NO_ROUTE, text: 'NO_ROUTE', exchange: 'x', routingKey: 'nowhere', body: 'lost' }]);
  });

  it('a routed mandatory message is not returned', () => {
    const { ch, sink } = e.channel();
    e.queue('q');
    e.publish(ch, '', 'q', 'kept', { mandatory: true });
    expect(sink.returns).toEqual([]);
    expect(e.ready('q')).toEqual(['kept']);
  });
});
