import type { Exchange } from './exchange/exchange.js';
import type { Message } from './message.js';
import type { Queue } from './queue.js';

/**
 * What the broker tells the store. The broker calls these synchronously on the event loop, for
 * durable things only (durable exchanges and queues, bindings whose ends are both durable,
 * persistent messages in durable queues); an implementation records the change in memory and
 * writes it later, off the loop. See the durability section of the README.
 */
export interface Persistence {
  exchangeDeclared(exchange: Exchange): void;
  exchangeDeleted(exchange: Exchange): void;
  queueDeclared(queue: Queue): void;
  queueDeleted(queue: Queue): void;
  bindingAdded(exchange: Exchange, queue: Queue, routingKey: string, args: Record<string, unknown>): void;
  /** `args` tell apart headers-exchange bindings that share a routing key (SPEC §3.3). */
  bindingRemoved(exchange: Exchange, queue: Queue, routingKey: string, args: Record<string, unknown>): void;
  /**
   * An exchange → exchange binding between two durable exchanges (SPEC §3.3.3). Deleting an
   * exchange removes every binding from and to it; the store hears only `exchangeDeleted`.
   */
  exchangeBindingAdded?(source: Exchange, destination: Exchange, routingKey: string, args: Record<string, unknown>): void;
  exchangeBindingRemoved?(source: Exchange, destination: Exchange, routingKey: string, args: Record<string, unknown>): void;
  messageEnqueued(queue: Queue, message: Message): void;
  /** A named stream consumer's offset (the next it reads) moved (SPEC §3.4.5 offset tracking). */
  streamOffsetStored?(stream: Queue, name: string, offset: number): void;
  /**
   * Acked, dropped, purged, expired or dead-lettered: the message leaves the queue for good. A
   * dead-lettered persistent message is `messageEnqueued` into its durable targets first.
   */
  messageRemoved(queue: Queue, message: Message): void;
  /** Delivered to a consumer: its redelivered flag and delivery count changed. */
  messageDelivered(queue: Queue, message: Message): void;
  /**
   * Calls `done(null)` once every change recorded so far is committed, or `done(err)` if it cannot
   * be. Publisher confirms of persistent messages wait on this (group commit).
   */
  afterCommit(done: (err: Error | null) => void): void;
}

/** The broker without a store: nothing is written and everything is safe at once. */
export class NoPersistence implements Persistence {
  exchangeDeclared(): void {}
  exchangeDeleted(): void {}
  queueDeclared(): void {}
  queueDeleted(): void {}
  bindingAdded(): void {}
  bindingRemoved(): void {}
  // Parameters are declared so subclasses (test recorders) can override with them.
  messageEnqueued(_queue: Queue, _message: Message): void {}
  messageRemoved(_queue: Queue, _message: Message): void {}
  messageDelivered(_queue: Queue, _message: Message): void {}
  afterCommit(done: (err: Error | null) => void): void {
    done(null);
  }
}
