/** How failed logins are slowed down and limited, per source address. */
export interface LoginThrottleOptions {
  /** Every refusal is answered after this long, so guessing costs the guesser time. */
  delayMs: number;
  /** Failures from one address within {@link windowMs} after which its logins are refused unchecked. */
  maxFailures: number;
  windowMs: number;
}

export const DEFAULT_LOGIN_THROTTLE: Readonly<LoginThrottleOptions> = Object.freeze({ delayMs: 1000, maxFailures: 10, windowMs: 60_000 });

/** Addresses remembered at most; beyond it expired ones go first, then the oldest. */
const MAX_ADDRESSES = 10_000;

/**
 * Failed logins per source address in a fixed window. A throttled address gets the same refusal
 * as a wrong password, without its credentials being checked at all, so it learns nothing and
 * costs no scrypt work; success does not reset the count (one valid account must not let a
 * guesser go on). Shared by every listener, since they share the users.
 */
export class LoginThrottle {
  private readonly failures = new Map<string, { count: number; since: number }>();

  constructor(readonly options: Readonly<LoginThrottleOptions> = DEFAULT_LOGIN_THROTTLE) {}

  /** True while `address` has used up its failures. */
  throttled(address: string, now = Date.now()): boolean {
    const f = this.failures.get(address);
    if (f === undefined) return false;
    if (now - f.since >= this.options.windowMs) {
      this.failures.delete(address);
      return false;
    }
    return f.count >= this.options.maxFailures;
  }

  /** Counts a failure; resolves after the refusal delay. */
  failed(address: string, now = Date.now()): Promise<void> {
    const f = this.failures.get(address);
    if (f === undefined || now - f.since >= this.options.windowMs) {
      if (this.failures.size >= MAX_ADDRESSES) this.prune(now);
      this.failures.set(address, { count: 1, since: now });
    } else f.count++;
    const ms = this.options.delayMs;
    return ms === 0 ? Promise.resolve() : new Promise((resolve) => setTimeout(resolve, ms).unref());
  }

  private prune(now: number): void {
    for (const [a, f] of this.failures) if (now - f.since >= this.options.windowMs) this.failures.delete(a);
    if (this.failures.size >= MAX_ADDRESSES) {
      const oldest = this.failures.keys().next().value;
      if (oldest !== undefined) this.failures.delete(oldest);
    }
  }
}
