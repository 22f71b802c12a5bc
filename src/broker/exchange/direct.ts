import type { Queue } from '../queue.js';
import { Exchange } from './exchange.js';

/** Routes to the queues bound with exactly the message's routing key. */
export class DirectExchange extends Exchange {
  readonly type = 'direct';
  private readonly routes = new Map<string, Set<Queue>>();

  route(routingKey: string): Iterable<Queue> {
    // Never creates an entry on publish: an unmatched key costs one lookup and no allocation.
    return this.routes.get(routingKey) ?? Exchange.EMPTY;
  }

  protected added(queue: Queue, routingKey: string): void {
    let set = this.routes.get(routingKey);
    if (set === undefined) {
      set = new Set();
      this.routes.set(routingKey, set);
    }
    set.add(queue);
  }

  protected removed(queue: Queue, routingKey: string): void {
    const set = this.routes.get(routingKey);
    if (set === undefined) return;
    set.delete(queue);
    if (set.size === 0) this.routes.delete(routingKey);
  }
}
