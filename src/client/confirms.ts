import type { Bytes } from '../../protocol/index.js';
/** Called when the broker settles a publish: `null` on ack, the error on nack or loss. */
export type ConfirmCallback = (err: Error | null) => void;

const noop = (): void => {};

/**
 * One publish waiting for its confirm: either a promise's resolve/reject or a callback. When
 * the connection may republish it, it also keeps what to send again.
 */
export class Unconfirmed {
  resolve: (() => void) | null = null;
  reject: ((err: Error) => void) | null = null;
  /** The promise handed to the application, so a rejection can be marked handled first. */
  promise: Promise<void> | null = null;
  readonly callback: ConfirmCallback | null;
  /** For republishing: the message as it was sent (null when republishing is off). */
  readonly message: PublishedMessage | null;

  constructor(callback: ConfirmCallback | null, message: PublishedMessage | null) {
    this.callback = callback;
    this.message = message;
  }

  settle(err: Error | null): void {
    if (this.callback !== null) {
      this.callback(err);
      return;
    }
    if (err === null) this.resolve?.();
    else {
      // An application may ignore a publish promise: its rejection must never be unhandled.
      this.promise?.catch(noop);
      this.reject?.(err);
    }
  }
}

/** The parts of a publish, as written: what republishing sends again. */
export interface PublishedMessage {
  exchange: string;
  routingKey: string;
  /** `[exchange, routingKey, mandatory, persistent, priority, expiration]` */
  args: unknown[];
  props: Bytes | null;
  body: Bytes;
}

/** Makes the promise of a publish whose confirm is awaited. */
export function confirmPromise(u: Unconfirmed): Promise<void> {
  const p = new Promise<void>((resolve, reject) => {
    u.resolve = resolve;
    u.reject = reject;
  });
  u.promise = p;
  return p;
}

/**
 * Publishes awaiting confirms, in sequence order (SPEC §3.6: the broker confirms in order,
 * folding runs into `multiple`). A ring indexed by sequence number, so settling costs no hash
 * lookups and no per-message map entries.
 */
export class ConfirmRing {
  private slots: (Unconfirmed | null)[] = new Array<Unconfirmed | null>(64).fill(null);
  private head = 0;
  private count = 0;
  /** Sequence number of the record at `head`. */
  private headSeq = 1;

  get size(): number {
    return this.count;
  }

  /** Appends the next publish; its sequence number is the one returned. */
  push(u: Unconfirmed): number {
    if (this.count === this.slots.length) this.grow();
    this.slots[(this.head + this.count) & (this.slots.length - 1)] = u;
    this.count++;
    return this.headSeq + this.count - 1;
  }

  /** Settles `seq` (and every earlier one with `multiple`); `err` null for an ack. */
  settle(seq: number, multiple: boolean, err: Error | null): void {
    const mask = this.slots.length - 1;
    if (multiple) {
      while (this.count > 0 && this.headSeq <= seq) this.shift(mask)?.settle(err);
      return;
    }
    const i = seq - this.headSeq;
    if (i < 0 || i >= this.count) return;
    const at = (this.head + i) & mask;
    const u = this.slots[at];
    this.slots[at] = null;
    u?.settle(err);
    // Settled out of order leaves a hole; the front advances over holes.
    while (this.count > 0 && this.slots[this.head] === null) this.shift(mask);
  }

  /** Removes and returns every record, oldest first, and restarts numbering at 1. */
  drain(): Unconfirmed[] {
    const out: Unconfirmed[] = [];
    const mask = this.slots.length - 1;
    while (this.count > 0) {
      const u = this.shift(mask);
      if (u !== null) out.push(u);
    }
    this.headSeq = 1;
    return out;
  }

  private shift(mask: number): Unconfirmed | null {
    const u = this.slots[this.head] ?? null;
    this.slots[this.head] = null;
    this.head = (this.head + 1) & mask;
    this.count--;
    this.headSeq++;
    return u;
  }

  private grow(): void {
    const old = this.slots;
    const next = new Array<Unconfirmed | null>(old.length * 2).fill(null);
    for (let i = 0; i < this.count; i++) next[i] = old[(this.head + i) & (old.length - 1)] ?? null;
    this.slots = next;
    this.head = 0;
  }
}
