/** An opaque timer handle from {@link Clock.setTimer}. */
export type TimerHandle = unknown;

/**
 * Time as the broker sees it: TTLs, queue expiry and consumer timeouts all read `now()` and arm
 * timers here, so tests can drive time instead of sleeping.
 */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Runs `fn` once, `ms` from now. Callers re-check their deadline when it fires. */
  setTimer(fn: () => void, ms: number): TimerHandle;
  clearTimer(handle: TimerHandle): void;
}

/** Node's `setTimeout` cannot wait longer than this; longer waits are re-armed when they fire. */
const MAX_TIMER_MS = 2_147_483_647;

/**
 * The real clock. It looks `Date.now` and `setTimeout` up on every call, so vitest's fake timers
 * take effect even for a broker built before they were installed. Timers are unref'd: a broker
 * with nothing but pending expiries must not keep the process alive.
 */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimer(fn, ms) {
    const t = setTimeout(fn, Math.min(Math.max(0, ms), MAX_TIMER_MS));
    (t as { unref?: () => void }).unref?.();
    return t;
  },
  clearTimer(handle) {
    clearTimeout(handle as NodeJS.Timeout);
  },
};

interface ManualTimer {
  at: number;
  seq: number;
  fn: () => void;
}

/**
 * A clock that moves only when told to: `advance(ms)` fires every timer that falls due, in
 * order, each with `now()` at its due time. For tests of TTL and timeouts over real sockets,
 * where faking the global timers would also stop the test's own I/O helpers.
 */
export class ManualClock implements Clock {
  private t: number;
  private seq = 0;
  private timers: ManualTimer[] = [];

  constructor(start = 1_700_000_000_000) {
    this.t = start;
  }

  now(): number {
    return this.t;
  }

  setTimer(fn: () => void, ms: number): TimerHandle {
    const timer: ManualTimer = { at: this.t + Math.max(0, ms), seq: this.seq++, fn };
    this.timers.push(timer);
    return timer;
  }

  clearTimer(handle: TimerHandle): void {
    this.timers = this.timers.filter((t) => t !== handle);
  }

  /** Number of armed timers (for tests that check a broker released its timers). */
  get pending(): number {
    return this.timers.length;
  }

  /** Moves time forward by `ms`, firing due timers in due order (ties in the order armed). */
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      let next: ManualTimer | undefined;
      for (const t of this.timers) {
        if (t.at <= end && (next === undefined || t.at < next.at || (t.at === next.at && t.seq < next.seq))) next = t;
      }
      if (next === undefined) break;
      this.timers = this.timers.filter((t) => t !== next);
      if (next.at > this.t) this.t = next.at;
      next.fn();
    }
    this.t = end;
  }
}
