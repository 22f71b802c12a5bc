import { Exchange, type Destination } from './exchange.js';

/** Routes to every bound destination, once each, whatever the routing key. */
export class FanoutExchange extends Exchange {
  readonly type = 'fanout';

  route(): Iterable<Destination> {
    return this.byDestination.keys();
  }

  protected added(): void {}
  protected removed(): void {}
}
