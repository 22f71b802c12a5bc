/**
 * A binary min-heap ordered by `before`. Delayed messages wait here for their due time: the
 * next one is `peek()` in O(1), and a publish or a firing costs O(log n).
 */
export class MinHeap<T> {
  private items: T[] = [];

  constructor(private readonly before: (a: T, b: T) => boolean) {}

  get length(): number {
    return this.items.length;
  }

  peek(): T | undefined {
    return this.items[0];
  }

  push(item: T): void {
    const a = this.items;
    a.push(item);
    let i = a.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = a[parent] as T;
      if (!this.before(item, p)) break;
      a[i] = p;
      i = parent;
    }
    a[i] = item;
  }

  pop(): T | undefined {
    const a = this.items;
    const top = a[0];
    const last = a.pop();
    if (a.length !== 0 && last !== undefined) this.siftDown(last, 0);
    return top;
  }

  /** Every item, in no particular order, leaving the heap empty. */
  drain(): T[] {
    const out = this.items;
    this.items = [];
    return out;
  }

  /** Replaces the contents with `items` (any order) in O(n). */
  reset(items: T[]): void {
    this.items = items;
    for (let i = (items.length >> 1) - 1; i >= 0; i--) this.siftDown(items[i] as T, i);
  }

  [Symbol.iterator](): IterableIterator<T> {
    return this.items[Symbol.iterator]();
  }

  private siftDown(item: T, i: number): void {
    const a = this.items;
    const n = a.length;
    for (;;) {
      let c = 2 * i + 1;
      if (c >= n) break;
      const r = c + 1;
      if (r < n && this.before(a[r] as T, a[c] as T)) c = r;
      const child = a[c] as T;
      if (!this.before(child, item)) break;
      a[i] = child;
      i = c;
    }
    a[i] = item;
  }
}
