import { Unconfirmed, confirmPromise, type PublishedMessage } from './confirms.js';
import type { Channel } from './channel.js';
import type { Connection } from './connection.js';
import { SkiffError } from './errors.js';
import type { ReconnectSettings } from './options.js';

type Held =
  | { kind: 'publish'; message: PublishedMessage; waiter: Unconfirmed; size: number; deadline: number }
  | { kind: 'call'; run: () => void; fail: (err: Error) => void };

const noop = (): void => {};

/**
 * What a channel is asked to do while its connection is away: publishes and calls, kept in
 * order and sent once the channel is open again. Publishes are bounded by the connection's
 * `reconnect.bufferBytes` (over it, `publish` rejects at once) and each waits at most
 * `reconnect.bufferTimeoutMs`, with one timer per channel for the oldest.
 */
export class HeldCalls {
  private entries: Held[] = [];
  private timer: ReturnType<typeof setTimeout> | null = null;
  private readonly conn: Connection;
  private readonly settings: ReconnectSettings | null;

  constructor(conn: Connection, settings: ReconnectSettings | null) {
    this.conn = conn;
    this.settings = settings;
  }

  get size(): number {
    return this.entries.length;
  }

  publish(message: PublishedMessage): Promise<void> {
    const s = this.settings;
    const size = message.body.length + (message.props?.length ?? 0);
    if (s === null || this.conn.heldBytes + size > s.bufferBytes) {
      const limit = s?.bufferBytes ?? 0;
      const p = Promise.reject(
        new SkiffError(
          'ERR_PUBLISH_BUFFER_FULL',
          `cannot hold a message of ${size} bytes while reconnecting: ${this.conn.heldBytes} bytes are held already (reconnect.bufferBytes ${limit})`,
        ),
      );
      p.catch(noop);
      return p;
    }
    const waiter = new Unconfirmed(null, message);
    const p = confirmPromise(waiter);
    const deadline = s.bufferTimeoutMs > 0 ? Date.now() + s.bufferTimeoutMs : Infinity;
    this.entries.push({ kind: 'publish', message, waiter, size, deadline });
    this.conn.heldBytes += size;
    if (this.timer === null) this.arm();
    return p;
  }

  call<T>(run: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.entries.push({ kind: 'call', run: () => void run().then(resolve, reject), fail: reject });
    });
  }

  /** Sends everything held, in order, on the reopened channel. */
  release(ch: Channel): void {
    const entries = this.take();
    for (const e of entries) {
      if (e.kind === 'publish') ch.sendHeld(e.message, e.waiter);
      else e.run();
    }
  }

  /** The channel closed for good: everything held fails with `err`. */
  fail(err: Error): void {
    for (const e of this.take()) {
      if (e.kind === 'publish') e.waiter.settle(err);
      else e.fail(err);
    }
  }

  private take(): Held[] {
    const entries = this.entries;
    this.entries = [];
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    for (const e of entries) if (e.kind === 'publish') this.conn.heldBytes -= e.size;
    return entries;
  }

  private arm(): void {
    let first = Infinity;
    for (const e of this.entries) {
      if (e.kind === 'publish') {
        first = e.deadline;
        break;
      }
    }
    if (first === Infinity) return;
    this.timer = setTimeout(() => this.expire(), Math.max(0, first - Date.now()));
  }

  private expire(): void {
    this.timer = null;
    const now = Date.now();
    const timeoutMs = this.settings?.bufferTimeoutMs ?? 0;
    this.entries = this.entries.filter((e) => {
      if (e.kind !== 'publish' || e.deadline > now) return true;
      this.conn.heldBytes -= e.size;
      e.waiter.settle(new SkiffError('ERR_PUBLISH_TIMEOUT', `publish waited ${timeoutMs} ms for the connection to come back (reconnect.bufferTimeoutMs)`));
      return false;
    });
    this.arm();
  }
}
