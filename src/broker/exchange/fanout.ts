import type { Queue } from '../queue.js';
import { Exchange } from './exchange.js';

/** Routes to every bound queue, once each, whatever the routing key. */
export class FanoutExchange extends Exchange {
  readonly type = 'fanout';

  route(): Iterable<Queue> {
    return this.byQueue.keys();
  }

  protected added(): void {}
  protected removed(): void {}
}
