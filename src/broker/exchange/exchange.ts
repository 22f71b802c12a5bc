import type { Queue } from '../queue.js';

export interface ExchangeOptions {
  durable: boolean;
  autoDelete: boolean;
  internal: boolean;
  arguments: Record<string, unknown>;
}

/** One binding as listed by admin tools and written by the store. */
export interface Binding {
  exchange: string;
  queue: string;
  routingKey: string;
  arguments: Record<string, unknown>;
}

const EMPTY: ReadonlySet<Queue> = new Set();

/**
 * An exchange routes a message to a set of queues. Each type implements `route` its own way;
 * the publish path never switches on the type (STYLE §4).
 */
export abstract class Exchange {
  abstract readonly type: string;
  readonly name: string;
  readonly durable: boolean;
  readonly autoDelete: boolean;
  readonly internal: boolean;
  readonly arguments: Record<string, unknown>;
  /** Bindings by queue, then by key: for unbinding, listing, and deleting a queue's bindings. */
  protected readonly byQueue = new Map<Queue, Map<string, Record<string, unknown>>>();
  private count = 0;

  constructor(name: string, options: ExchangeOptions) {
    this.name = name;
    this.durable = options.durable;
    this.autoDelete = options.autoDelete;
    this.internal = options.internal;
    this.arguments = options.arguments;
  }

  /** The queues a message with this routing key goes to, each at most once. */
  abstract route(routingKey: string): Iterable<Queue>;
  protected abstract added(queue: Queue, routingKey: string): void;
  protected abstract removed(queue: Queue, routingKey: string): void;

  /** Adds a binding; false if it already existed. */
  bind(queue: Queue, routingKey: string, args: Record<string, unknown>): boolean {
    let keys = this.byQueue.get(queue);
    if (keys === undefined) {
      keys = new Map();
      this.byQueue.set(queue, keys);
    }
    if (keys.has(routingKey)) return false;
    keys.set(routingKey, args);
    this.count++;
    this.added(queue, routingKey);
    return true;
  }

  /** Removes a binding; false if there was none. */
  unbind(queue: Queue, routingKey: string): boolean {
    const keys = this.byQueue.get(queue);
    if (keys === undefined || !keys.delete(routingKey)) return false;
    if (keys.size === 0) this.byQueue.delete(queue);
    this.count--;
    this.removed(queue, routingKey);
    return true;
  }

  /** Removes every binding to `queue`; returns their keys. */
  unbindQueue(queue: Queue): string[] {
    const keys = this.byQueue.get(queue);
    if (keys === undefined) return [];
    const out = [...keys.keys()];
    for (const k of out) this.unbind(queue, k);
    return out;
  }

  hasQueue(queue: Queue): boolean {
    return this.byQueue.has(queue);
  }

  /** The queues with at least one binding here. */
  boundQueues(): Queue[] {
    return [...this.byQueue.keys()];
  }

  get bindingCount(): number {
    return this.count;
  }

  *bindings(): IterableIterator<Binding> {
    for (const [queue, keys] of this.byQueue) {
      for (const [routingKey, args] of keys) yield { exchange: this.name, queue: queue.name, routingKey, arguments: args };
    }
  }

  protected static readonly EMPTY = EMPTY;
}
