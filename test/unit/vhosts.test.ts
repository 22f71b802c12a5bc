import { describe, expect, it } from 'vitest';
import { Broker } from '../../src/broker/broker.js';
import type { Exchange } from '../../src/broker/exchange/exchange.js';
import { NoPersistence, type Persistence } from '../../src/broker/persistence.js';
import type { Queue } from '../../src/broker/queue.js';
import { VirtualHosts, vhostNameProblem } from '../../src/broker/vhosts.js';

/** Records what the store would hear, with the vhost of each object. */
class Recorder extends NoPersistence implements Persistence {
  readonly ops: string[] = [];
  override exchangeDeclared(x?: Exchange): void {
    this.ops.push(`exchange ${x?.vhost} ${x?.name}`);
  }
  override exchangeDeleted(x?: Exchange): void {
    this.ops.push(`exchange-delete ${x?.vhost} ${x?.name}`);
  }
  override queueDeclared(q?: Queue): void {
    this.ops.push(`queue ${q?.vhost} ${q?.name}`);
  }
  override queueDeleted(q?: Queue): void {
    this.ops.push(`queue-delete ${q?.vhost} ${q?.name}`);
  }
}

const QUEUE = { durable: true, exclusive: false, autoDelete: false, arguments: {} };
const body = (n: number): Buffer => Buffer.alloc(n + 4);

describe('VirtualHosts', () => {
  it('makes a broker per vhost, each with the built-in exchanges, and the same names stay apart', () => {
    const vhosts = new VirtualHosts(new Broker());
    const a = vhosts.add('a');
    expect(vhosts.add('a')).toBe(a);
    expect([...a.exchanges.keys()].sort()).toEqual(['', 'amq.direct', 'amq.fanout', 'amq.headers', 'amq.topic']);
    const root = vhosts.defaultVhost;
    root.declareQueue('q', QUEUE, false, null);
    a.declareQueue('q', { ...QUEUE, durable: false }, false, null);
    root.publish('', 'q', body(1), false, 0, 0);
    expect([root.queues.get('q')?.messageCount, a.queues.get('q')?.messageCount]).toEqual([1, 0]);
    expect(() => a.declareQueue('nope', QUEUE, true, null)).toThrow("no queue 'nope' in vhost 'a'");
    expect(() => a.declareQueue('q', QUEUE, false, null)).toThrow("inequivalent arg 'durable' for queue 'q' in vhost 'a': received 'true' but current is 'false'");
    expect(() => a.declareQueue('bad', { ...QUEUE, arguments: { 'x-max-length': -1 } }, false, null)).toThrow(/^invalid arg 'x-max-length' for queue 'bad' in vhost 'a'/);
    expect(vhosts.names()).toEqual(['/', 'a']);
    expect(vhosts.stats().queues).toBe(2);
  });

  it('share memory and its alarm: a backlog in one vhost blocks publishers of every vhost', () => {
    const vhosts = new VirtualHosts(new Broker({ memoryHighWatermark: 10_000 }));
    const b = vhosts.add('b');
    const seen: boolean[] = [];
    vhosts.defaultVhost.onBlockedChange((blocked) => seen.push(blocked));
    b.declareQueue('big', QUEUE, false, null);
    for (let i = 0; i < 20; i++) b.publish('', 'big', body(1000), false, 0, 0);
    expect([vhosts.defaultVhost.blocked, b.blocked, seen]).toEqual([true, true, [true]]);
    b.purgeQueue('big', null);
    expect([vhosts.defaultVhost.blocked, seen]).toEqual([false, [true, false]]);
  });

  it('deleting a vhost deletes everything in it through the store, and only it; / stays', () => {
    const store = new Recorder();
    const vhosts = new VirtualHosts(new Broker({ persistence: store }));
    const gone = vhosts.add('gone');
    for (const v of [vhosts.defaultVhost, gone]) {
      v.declareExchange('x', 'direct', { durable: true, autoDelete: false, internal: false, arguments: {} }, false);
      v.declareQueue('q', QUEUE, false, null);
      v.bind('q', 'x', 'k', {}, null);
    }
    const session = gone.openSession({ id: 's1', name: 'c', user: 'u', peer: 'p', connectedAt: 0 });
    store.ops.length = 0;
    expect(vhosts.delete('gone')).toBe(true);
    expect(session.closed).toBe(true);
    expect(store.ops).toEqual(['queue-delete gone q', 'exchange-delete gone x']);
    expect([vhosts.has('gone'), vhosts.delete('gone'), vhosts.defaultVhost.queues.has('q')]).toEqual([false, false, true]);
    expect(() => vhosts.delete('/')).toThrow("the default vhost '/' cannot be deleted");
  });

  it('refuses names that cannot be told apart or stored', () => {
    expect(vhostNameProblem('')).toBe('a vhost name must be a non-empty string');
    expect(vhostNameProblem('a\nb')).toBe('vhost name "a\\nb" contains a control character');
    expect(vhostNameProblem('x'.repeat(256))).toMatch(/is longer than 255 bytes$/);
    expect(vhostNameProblem('team/orders café')).toBeNull();
    expect(() => new VirtualHosts(new Broker()).add('')).toThrow('a vhost name must be a non-empty string');
  });
});
