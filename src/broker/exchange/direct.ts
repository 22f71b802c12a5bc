import { Exchange, type Destination } from './exchange.js';

/** Routes to the destinations bound with exactly the message's routing key. */
export class DirectExchange extends Exchange {
  readonly type = 'direct';
  private readonly routes = new Map<string, Set<Destination>>();

  route(routingKey: string): Iterable<Destination> {
    // Never creates an entry on publish: an unmatched key costs one lookup and no allocation.
    return this.routes.get(routingKey) ?? Exchange.EMPTY;
  }

  protected added(dest: Destination, routingKey: string): void {
    let set = this.routes.get(routingKey);
    if (set === undefined) {
      set = new Set();
      this.routes.set(routingKey, set);
    }
    set.add(dest);
  }

  protected removed(dest: Destination, routingKey: string): void {
    const set = this.routes.get(routingKey);
    if (set === undefined) return;
    set.delete(dest);
    if (set.size === 0) this.routes.delete(routingKey);
  }
}
