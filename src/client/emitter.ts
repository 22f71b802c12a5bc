/**
 * A small typed event emitter for the client core, which must run where `node:events` does not
 * (browsers, issue 12). `Events` maps each event name to its listener's argument tuple.
 */
export type EventMap = { [event: string]: unknown[] };

type Listener<A extends unknown[]> = (...args: A) => void;

export class Emitter<Events extends EventMap> {
  /** Listeners per event; an array is replaced, never mutated, so emit may iterate it safely. */
  private listeners: { [E in keyof Events]?: Listener<Events[E]>[] } = {};

  on<E extends keyof Events>(event: E, listener: Listener<Events[E]>): this {
    this.listeners[event] = [...(this.listeners[event] ?? []), listener];
    return this;
  }

  /** Listens for the next `event` only. */
  once<E extends keyof Events>(event: E, listener: Listener<Events[E]>): this {
    const wrapped: Listener<Events[E]> = (...args) => {
      this.off(event, wrapped);
      listener(...args);
    };
    (wrapped as { original?: unknown }).original = listener;
    return this.on(event, wrapped);
  }

  off<E extends keyof Events>(event: E, listener: Listener<Events[E]>): this {
    const ls = this.listeners[event];
    if (ls === undefined) return this;
    const i = ls.findIndex((l) => l === listener || (l as { original?: unknown }).original === listener);
    if (i < 0) return this;
    const next = ls.filter((_, j) => j !== i);
    if (next.length === 0) delete this.listeners[event];
    else this.listeners[event] = next;
    return this;
  }

  /** Listeners of `event`, or of every event when none is named (for leak checks). */
  listenerCount(event?: keyof Events): number {
    if (event !== undefined) return this.listeners[event]?.length ?? 0;
    let n = 0;
    for (const ls of Object.values(this.listeners) as Listener<unknown[]>[][]) n += ls.length;
    return n;
  }

  /**
   * Calls every listener of `event` in order. A listener that throws does not stop the others
   * or the emitter's caller (the client's own state machine): its error goes to
   * {@link listenerError}.
   */
  protected emit<E extends keyof Events>(event: E, ...args: Events[E]): boolean {
    const ls = this.listeners[event];
    if (ls === undefined) return false;
    for (const l of ls) {
      try {
        l(...args);
      } catch (err) {
        this.listenerError(err);
      }
    }
    return true;
  }

  /** What to do with an error thrown by a listener; rethrown asynchronously by default. */
  protected listenerError(err: unknown): void {
    queueMicrotask(() => {
      throw err;
    });
  }
}
