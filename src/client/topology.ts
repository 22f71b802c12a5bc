/**
 * What the application declared on a connection's channels, kept so it can be declared again
 * after a reconnect: exchanges, queues (server-named and exclusive ones too), exchange and
 * queue bindings, in the order they were made. Deletions remove what they delete. Passive
 * declarations and failed calls record nothing. Consumers and prefetch belong to channels and
 * are kept there.
 */

export interface RecordedExchange {
  name: string;
  type: string;
  durable: boolean;
  autoDelete: boolean;
  internal: boolean;
  arguments: Record<string, unknown>;
}

export interface RecordedQueue {
  /** The name in force (the server's choice for a server-named queue). */
  name: string;
  /** Declared with `''`: the server picks the name, and may pick another one next time. */
  serverNamed: boolean;
  durable: boolean;
  exclusive: boolean;
  autoDelete: boolean;
  arguments: Record<string, unknown>;
}

export interface RecordedBinding {
  /** `queue`: queue.bind (destination is a queue); `exchange`: exchange.bind. */
  kind: 'queue' | 'exchange';
  destination: string;
  source: string;
  routingKey: string;
  arguments: Record<string, unknown>;
}

function bindingKey(b: RecordedBinding): string {
  return JSON.stringify([b.kind, b.destination, b.source, b.routingKey, b.arguments]);
}

export class Topology {
  // Maps keep insertion order: replay declares in the order the application did.
  private readonly exchangeMap = new Map<string, RecordedExchange>();
  private readonly queueMap = new Map<string, RecordedQueue>();
  private readonly bindingMap = new Map<string, RecordedBinding>();

  get exchanges(): readonly RecordedExchange[] {
    return [...this.exchangeMap.values()];
  }

  get queues(): readonly RecordedQueue[] {
    return [...this.queueMap.values()];
  }

  get bindings(): readonly RecordedBinding[] {
    return [...this.bindingMap.values()];
  }

  queue(name: string): RecordedQueue | undefined {
    return this.queueMap.get(name);
  }

  exchangeDeclared(x: RecordedExchange): void {
    this.exchangeMap.delete(x.name);
    this.exchangeMap.set(x.name, x);
  }

  exchangeDeleted(name: string): void {
    this.exchangeMap.delete(name);
    for (const [k, b] of this.bindingMap) {
      if (b.source === name || (b.kind === 'exchange' && b.destination === name)) this.bindingMap.delete(k);
    }
  }

  queueDeclared(q: RecordedQueue): void {
    this.queueMap.delete(q.name);
    this.queueMap.set(q.name, q);
  }

  queueDeleted(name: string): void {
    this.queueMap.delete(name);
    for (const [k, b] of this.bindingMap) if (b.kind === 'queue' && b.destination === name) this.bindingMap.delete(k);
  }

  bound(b: RecordedBinding): void {
    const k = bindingKey(b);
    this.bindingMap.delete(k);
    this.bindingMap.set(k, b);
  }

  unbound(b: RecordedBinding): void {
    this.bindingMap.delete(bindingKey(b));
  }

  /** A server-named queue came back as `to`: its record and its bindings follow. */
  queueRenamed(from: string, to: string): void {
    const q = this.queueMap.get(from);
    if (q === undefined) return;
    // Rebuild to keep the declaration order with the new key in the old place.
    const entries = [...this.queueMap.entries()];
    this.queueMap.clear();
    for (const [k, v] of entries) {
      if (k === from) {
        v.name = to;
        this.queueMap.set(to, v);
      } else this.queueMap.set(k, v);
    }
    const bindings = [...this.bindingMap.values()];
    this.bindingMap.clear();
    for (const b of bindings) {
      if (b.kind === 'queue' && b.destination === from) b.destination = to;
      this.bindingMap.set(bindingKey(b), b);
    }
  }

  /**
   * The name to declare a recorded queue with on a new connection: a server-named queue that
   * is exclusive or auto-delete died (or is dying) with the old connection, so it gets a fresh
   * name (`''`) rather than racing the broker's cleanup of the old one; any other keeps its name.
   */
  static redeclareName(q: RecordedQueue): string {
    return q.serverNamed && (q.exclusive || q.autoDelete) ? '' : q.name;
  }
}
