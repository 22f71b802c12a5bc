import type { Queue } from '../queue.js';
import type { EffectivePolicy } from '../policy.js';

export interface ExchangeOptions {
  durable: boolean;
  autoDelete: boolean;
  internal: boolean;
  arguments: Record<string, unknown>;
}

/** One exchange → queue binding as listed by admin tools and written by the store. */
export interface Binding {
  exchange: string;
  queue: string;
  routingKey: string;
  arguments: Record<string, unknown>;
}

/** One exchange → exchange binding (SPEC §3.3.3). */
export interface ExchangeBinding {
  source: string;
  destination: string;
  routingKey: string;
  arguments: Record<string, unknown>;
}

/** What a binding leads to: a queue, or another exchange that routes the message further. */
export type Destination = Queue | Exchange;

interface BindingEntry {
  readonly routingKey: string;
  readonly args: Record<string, unknown>;
}

const EMPTY: ReadonlySet<Destination> = new Set();

/**
 * An exchange routes a message to a set of destinations. Each type implements `route` its own
 * way; the publish path never switches on the type (STYLE §4).
 */
export abstract class Exchange {
  abstract readonly type: string;
  readonly name: string;
  readonly durable: boolean;
  readonly autoDelete: boolean;
  readonly internal: boolean;
  readonly arguments: Record<string, unknown>;
  /** Where messages this exchange cannot route go (`alternate-exchange`, SPEC §3.3.2): the argument, else a policy's. */
  alternate: string | null;
  /** The `alternate-exchange` argument alone. */
  readonly argumentAlternate: string | null;
  /** The policy that applies (RabbitMQ's `policy`, `effective_policy_definition`). */
  appliedPolicy: EffectivePolicy | null = null;
  /** The virtual host it lives in (set by the broker that holds it). */
  vhost = '/';
  /** Bindings by destination, then by binding id: for unbinding, listing and deleting. */
  protected readonly byDestination = new Map<Destination, Map<string, BindingEntry>>();
  /** Exchanges holding a binding to this one, so deleting it touches only those. */
  readonly boundTo = new Set<Exchange>();
  private count = 0;
  /**
   * Bindings whose destination is an exchange. While it is 0 (and there is no alternate) every
   * destination is a queue and the publish path skips the exchange-graph walk.
   */
  exchangeBindingCount = 0;
  /** Messages published to this exchange, and copies it routed to queues (for rates). */
  publishInTotal = 0;
  publishOutTotal = 0;

  constructor(name: string, options: ExchangeOptions, alternate: string | null = null) {
    this.name = name;
    this.durable = options.durable;
    this.autoDelete = options.autoDelete;
    this.internal = options.internal;
    this.arguments = options.arguments;
    this.alternate = alternate;
    this.argumentAlternate = alternate;
  }

  /**
   * The destinations of a message with this routing key, each at most once. `content` is the
   * message in wire form, for types that look at its headers.
   */
  abstract route(routingKey: string, content: Buffer): Iterable<Destination>;
  protected abstract added(dest: Destination, routingKey: string, args: Record<string, unknown>): void;
  protected abstract removed(dest: Destination, routingKey: string, args: Record<string, unknown>): void;

  /** Throws PRECONDITION_FAILED for binding arguments this type cannot use (headers: `x-match`). */
  checkBindingArguments(_args: Record<string, unknown>): void {}

  /**
   * What makes two bindings to the same destination different. AMQP says key and arguments;
   * only the headers exchange routes on arguments, so the others compare the key alone.
   */
  /** @internal Public so a delayed exchange can ask the type it routes as. */
  bindingId(routingKey: string, _args: Record<string, unknown>): string {
    return routingKey;
  }

  /** Adds a binding; false if it already existed. */
  bind(dest: Destination, routingKey: string, args: Record<string, unknown>): boolean {
    let entries = this.byDestination.get(dest);
    if (entries === undefined) {
      entries = new Map();
      this.byDestination.set(dest, entries);
    }
    const id = this.bindingId(routingKey, args);
    if (entries.has(id)) return false;
    entries.set(id, { routingKey, args });
    this.count++;
    if (dest instanceof Exchange) this.exchangeBindingCount++;
    this.added(dest, routingKey, args);
    return true;
  }

  /** Removes a binding; false if there was none. */
  unbind(dest: Destination, routingKey: string, args: Record<string, unknown> = {}): boolean {
    const entries = this.byDestination.get(dest);
    if (entries === undefined) return false;
    const id = this.bindingId(routingKey, args);
    const entry = entries.get(id);
    if (entry === undefined) return false;
    entries.delete(id);
    if (entries.size === 0) this.byDestination.delete(dest);
    this.count--;
    if (dest instanceof Exchange) this.exchangeBindingCount--;
    this.removed(dest, entry.routingKey, entry.args);
    return true;
  }

  /** Removes every binding to `dest`; returns their keys. */
  unbindDestination(dest: Destination): string[] {
    const entries = this.byDestination.get(dest);
    if (entries === undefined) return [];
    const out: string[] = [];
    for (const e of [...entries.values()]) {
      out.push(e.routingKey);
      this.unbind(dest, e.routingKey, e.args);
    }
    return out;
  }

  /** Removes every binding to `queue`; returns their keys. */
  unbindQueue(queue: Queue): string[] {
    return this.unbindDestination(queue);
  }

  hasDestination(dest: Destination): boolean {
    return this.byDestination.has(dest);
  }

  hasQueue(queue: Queue): boolean {
    return this.byDestination.has(queue);
  }

  /** The queues with at least one binding here. */
  boundQueues(): Queue[] {
    const out: Queue[] = [];
    for (const d of this.byDestination.keys()) if (!(d instanceof Exchange)) out.push(d);
    return out;
  }

  /** The exchanges with at least one binding from here. */
  boundExchanges(): Exchange[] {
    const out: Exchange[] = [];
    for (const d of this.byDestination.keys()) if (d instanceof Exchange) out.push(d);
    return out;
  }

  /** Bindings from this exchange, to queues and to exchanges. */
  get bindingCount(): number {
    return this.count;
  }

  /** Bindings to queues. */
  *bindings(): IterableIterator<Binding> {
    for (const [dest, entries] of this.byDestination) {
      if (dest instanceof Exchange) continue;
      for (const e of entries.values()) yield { exchange: this.name, queue: dest.name, routingKey: e.routingKey, arguments: e.args };
    }
  }

  /** Bindings to exchanges. */
  *exchangeBindings(): IterableIterator<ExchangeBinding> {
    for (const [dest, entries] of this.byDestination) {
      if (!(dest instanceof Exchange)) continue;
      for (const e of entries.values()) yield { source: this.name, destination: dest.name, routingKey: e.routingKey, arguments: e.args };
    }
  }

  protected static readonly EMPTY = EMPTY;
}
