import type { Queue } from '../queue.js';
import { Exchange, type Destination } from './exchange.js';

/**
 * The nameless default exchange: every queue is implicitly bound to it by its own name
 * (SPEC §3.3). It holds no bindings of its own; it looks the queue up.
 */
export class DefaultExchange extends Exchange {
  readonly type = 'direct';
  private readonly queues: ReadonlyMap<string, Queue>;

  constructor(queues: ReadonlyMap<string, Queue>) {
    super('', { durable: true, autoDelete: false, internal: false, arguments: {} });
    this.queues = queues;
  }

  route(routingKey: string): Iterable<Destination> {
    const q = this.queues.get(routingKey);
    return q === undefined ? Exchange.EMPTY : [q];
  }

  protected added(): void {}
  protected removed(): void {}
}
