/**
 * A small seeded generator (mulberry32) for randomised tests that must replay exactly: a
 * failing seed is printed in the assertion message and reproduces the failure.
 */
export class Random {
  private state: number;

  constructor(readonly seed: number) {
    this.state = seed >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  bytes(n: number): Buffer {
    const b = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) b[i] = this.int(0, 255);
    return b;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(0, items.length - 1)] as T;
  }

  /** Cuts `buf` into consecutive pieces of random sizes (1..maxPiece), covering it exactly. */
  splits(buf: Buffer, maxPiece: number): Buffer[] {
    const out: Buffer[] = [];
    let off = 0;
    while (off < buf.length) {
      const n = Math.min(buf.length - off, this.int(1, maxPiece));
      out.push(buf.subarray(off, off + n));
      off += n;
    }
    return out;
  }
}
