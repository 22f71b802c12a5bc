import { Deque } from '../util/deque.js';
import type { Message } from './message.js';

/**
 * A queue's ready messages in delivery order. A plain queue uses a {@link Deque}; a queue
 * declared with `x-max-priority` uses a {@link PriorityList}.
 */
export interface ReadyList extends Iterable<Message> {
  readonly length: number;
  push(m: Message): void;
  /** Puts a message back where it is delivered next (requeue). */
  unshift(m: Message): void;
  shift(): Message | undefined;
  peek(): Message | undefined;
  /** Removes and returns every message, in delivery order. */
  drain(): Message[];
}

/**
 * Ready messages of a priority queue (SPEC §3.4.1 `x-max-priority`): one FIFO per level, the
 * highest non-empty level delivered first. Levels are created on first use, so a queue declared
 * with 255 levels costs what it uses.
 */
export class PriorityList implements ReadyList {
  private readonly levels: (Deque<Message> | undefined)[];
  private readonly max: number;
  /** Highest level that may be non-empty; -1 when all are empty. */
  private top = -1;
  private count = 0;

  constructor(maxPriority: number) {
    this.max = maxPriority;
    this.levels = new Array<Deque<Message> | undefined>(maxPriority + 1);
  }

  get length(): number {
    return this.count;
  }

  /** A message above the queue's maximum counts as the maximum (as RabbitMQ). */
  private level(m: Message): Deque<Message> {
    const p = m.priority > this.max ? this.max : m.priority;
    let d = this.levels[p];
    if (d === undefined) this.levels[p] = d = new Deque<Message>();
    if (p > this.top) this.top = p;
    return d;
  }

  push(m: Message): void {
    this.level(m).push(m);
    this.count++;
  }

  unshift(m: Message): void {
    this.level(m).unshift(m);
    this.count++;
  }

  shift(): Message | undefined {
    const d = this.head();
    if (d === undefined) return undefined;
    this.count--;
    return d.shift();
  }

  peek(): Message | undefined {
    return this.head()?.peek();
  }

  /** The highest non-empty level, lowering `top` past emptied levels on the way. */
  private head(): Deque<Message> | undefined {
    while (this.top >= 0) {
      const d = this.levels[this.top];
      if (d !== undefined && d.length !== 0) return d;
      this.top--;
    }
    return undefined;
  }

  drain(): Message[] {
    const out = [...this];
    for (let p = 0; p <= this.max; p++) this.levels[p]?.clear();
    this.top = -1;
    this.count = 0;
    return out;
  }

  *[Symbol.iterator](): IterableIterator<Message> {
    for (let p = this.top; p >= 0; p--) {
      const d = this.levels[p];
      if (d !== undefined) yield* d;
    }
  }
}
