/**
 * A channel's unacked deliveries by delivery tag. Tags are handed out in increasing order and
 * mostly acked soon and in order, so they live in a ring indexed by tag: a delivery costs one
 * slot write, not a hash-table entry. A `Map` here rehashes every few deliveries as acked tags
 * leave deleted entries behind, and each obsolete table keeps a link to its successor: once one
 * table is promoted, the scavenger keeps the whole chain (and the deliveries in it) alive into the
 * old generation, which made every young-generation GC slow (issue 5, the latency p99).
 *
 * The ring spans the oldest unacked tag to the newest, so one old delivery left unacked while
 * thousands of newer ones are acked would stretch it without bound; instead, when the ring is
 * at most half full and a new tag does not fit, its oldest entries move to `overflow`, a Map of
 * stragglers (all older than the ring). The ring's size thus stays within a few times the number
 * of deliveries it holds.
 */
export class UnackedWindow<T> {
  private slots: (T | undefined)[] = new Array<T | undefined>(16);
  private mask = 15;
  /** The ring holds tags in [base, end); tags below `base` can only be in `overflow`. */
  private base = 0;
  private end = 0;
  private inRing = 0;
  private overflow: Map<number, T> | null = null;

  get size(): number {
    return this.inRing + (this.overflow?.size ?? 0);
  }

  /** Adds the delivery with `tag`, which must be above every tag added before. */
  set(tag: number, value: T): void {
    if (this.inRing === 0) this.base = this.end = tag;
    while (tag - this.base >= this.slots.length) {
      if (this.inRing === 0) {
        this.base = this.end = tag;
        break;
      }
      if (this.inRing >= this.slots.length >> 1) this.grow();
      else this.evictOldest();
    }
    this.slots[tag & this.mask] = value;
    this.inRing++;
    this.end = tag + 1;
  }

  get(tag: number): T | undefined {
    if (tag >= this.base && tag < this.end) return this.slots[tag & this.mask];
    return this.overflow?.get(tag);
  }

  /** Removes and returns the delivery with `tag`, if there is one. */
  take(tag: number): T | undefined {
    if (tag >= this.base && tag < this.end) {
      const i = tag & this.mask;
      const v = this.slots[i];
      if (v === undefined) return undefined;
      this.slots[i] = undefined;
      this.inRing--;
      if (tag === this.base) this.skipHoles();
      return v;
    }
    const o = this.overflow;
    if (o === null) return undefined;
    const v = o.get(tag);
    if (v !== undefined) o.delete(tag);
    return v;
  }

  /** Removes and returns, oldest first, every delivery with a tag up to `limit`. */
  takeUpTo(limit: number): T[] {
    const out: T[] = [];
    const o = this.overflow;
    if (o !== null) {
      for (const [t, v] of o) {
        if (t > limit) return out;
        out.push(v);
        o.delete(t);
      }
    }
    const last = Math.min(limit, this.end - 1);
    for (let t = this.base; t <= last; t++) {
      const i = t & this.mask;
      const v = this.slots[i];
      if (v === undefined) continue;
      out.push(v);
      this.slots[i] = undefined;
      this.inRing--;
    }
    if (last >= this.base) this.skipHoles();
    return out;
  }

  /** Every delivery, oldest first. */
  *values(): IterableIterator<T> {
    if (this.overflow !== null) yield* this.overflow.values();
    for (let t = this.base; t < this.end; t++) {
      const v = this.slots[t & this.mask];
      if (v !== undefined) yield v;
    }
  }

  clear(): void {
    this.slots = new Array<T | undefined>(16);
    this.mask = 15;
    this.base = this.end = this.inRing = 0;
    this.overflow = null;
  }

  /** Moves `base` past acked slots; an empty ring collapses to `end`. */
  private skipHoles(): void {
    if (this.inRing === 0) {
      this.base = this.end;
      return;
    }
    while (this.slots[this.base & this.mask] === undefined) this.base++;
  }

  private evictOldest(): void {
    const i = this.base & this.mask;
    const v = this.slots[i];
    if (v !== undefined) {
      (this.overflow ??= new Map()).set(this.base, v);
      this.slots[i] = undefined;
      this.inRing--;
    }
    this.base++;
    this.skipHoles();
  }

  private grow(): void {
    const old = this.slots;
    const oldMask = this.mask;
    const next = new Array<T | undefined>(old.length * 2);
    const mask = next.length - 1;
    for (let t = this.base; t < this.end; t++) next[t & mask] = old[t & oldMask];
    this.slots = next;
    this.mask = mask;
  }
}
