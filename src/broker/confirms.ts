/**
 * Publisher confirms for one channel (SPEC §3.6). Sequence numbers resolve in any order (a
 * transient message at once, a persistent one when its checkpoint commits); they are sent in
 * order, a run of acks folded into one `multiple` ack, once per event-loop turn.
 */
export class ConfirmTracker {
  private nextSeq = 1;
  /** Unsent sequence numbers in order: 0 = waiting, 1 = ack, 2 = nack. */
  private readonly states = new Map<number, 0 | 1 | 2>();
  private scheduled = false;
  private readonly send: (seq: number, multiple: boolean, ack: boolean) => void;
  closed = false;
  /** Publishes acked to the publisher (the `confirm` message statistic). */
  confirmed = 0;

  constructor(send: (seq: number, multiple: boolean, ack: boolean) => void) {
    this.send = send;
  }

  /** Assigns the next publish its sequence number. */
  next(): number {
    const seq = this.nextSeq++;
    this.states.set(seq, 0);
    return seq;
  }

  resolve(seq: number, ack: boolean): void {
    if (this.closed || !this.states.has(seq)) return;
    this.states.set(seq, ack ? 1 : 2);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flush);
    }
  }

  get outstanding(): number {
    return this.states.size;
  }

  /** Publishes made in confirm mode (the `received_confirm` statistic). */
  get published(): number {
    return this.nextSeq - 1;
  }

  readonly flush = (): void => {
    this.scheduled = false;
    if (this.closed) return;
    let runEnd = 0;
    let runLength = 0;
    for (const [seq, state] of this.states) {
      if (state === 0) break;
      this.states.delete(seq);
      if (state === 1) {
        runEnd = seq;
        runLength++;
        this.confirmed++;
      } else {
        if (runLength !== 0) this.send(runEnd, runLength > 1, true);
        runLength = 0;
        this.send(seq, false, false);
      }
    }
    if (runLength !== 0) this.send(runEnd, runLength > 1, true);
  };
}
