/**
 * Synchronisation for tests: wait on events and conditions, never on the clock. Every wait has
 * a deadline so a broken test fails with a message instead of hanging until vitest's timeout.
 */

const DEFAULT_DEADLINE_MS = 5000;

/** Rejects with `what` if `promise` has not settled within `ms`. */
export function within<T>(promise: Promise<T>, what: string | (() => string), ms = DEFAULT_DEADLINE_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(new Error(`timed out after ${ms} ms waiting for ${typeof what === 'string' ? what : what()}`));
    }, ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

/** Polls `condition` (bounded) until it holds; for state that has no event to wait on. */
export async function waitFor(condition: () => boolean, what: string, ms = DEFAULT_DEADLINE_MS): Promise<void> {
  const end = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** A promise with its resolve/reject exposed. */
export interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(err: Error): void;
}

export function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (err: Error) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/**
 * Collects values pushed by callbacks (deliveries, returns, events) and lets the test wait for
 * the n-th one.
 */
export class Collector<T> {
  readonly items: T[] = [];
  private waiters: { n: number; d: Deferred<T[]> }[] = [];

  readonly push = (item: T): void => {
    this.items.push(item);
    this.waiters = this.waiters.filter((w) => {
      if (this.items.length < w.n) return true;
      w.d.resolve(this.items.slice(0, w.n));
      return false;
    });
  };

  /** Resolves with the first `n` items once that many have arrived. */
  take(n: number, ms = DEFAULT_DEADLINE_MS): Promise<T[]> {
    if (this.items.length >= n) return Promise.resolve(this.items.slice(0, n));
    const d = deferred<T[]>();
    this.waiters.push({ n, d });
    return within(d.promise, () => `${n} items (have ${this.items.length})`, ms);
  }

  get length(): number {
    return this.items.length;
  }
}
