import type { Channel } from './channel.js';
import type { Queue } from './queue.js';
import type { StreamConsumerArgs } from './stream-args.js';

/** A push subscription of one channel to one queue. */
export class Consumer {
  readonly tag: string;
  readonly queue: Queue;
  readonly channel: Channel;
  readonly noAck: boolean;
  readonly exclusive: boolean;
  /** Per-consumer prefetch (basic.qos global=false) in force when it was created; 0 = none. */
  readonly prefetch: number;
  /** `x-priority`: served before lower ones while it has room; equal ones round robin. */
  readonly priority: number;
  /** Deliveries of this consumer not yet settled. */
  unacked = 0;
  cancelled = false;
  /** For a consumer of a stream: where it starts and whether its offset is tracked. */
  streamArgs: StreamConsumerArgs | null = null;

  constructor(tag: string, queue: Queue, channel: Channel, noAck: boolean, exclusive: boolean, prefetch: number, priority = 0) {
    this.tag = tag;
    this.queue = queue;
    this.channel = channel;
    this.noAck = noAck;
    this.exclusive = exclusive;
    this.prefetch = prefetch;
    this.priority = priority;
  }

  /** Room in its prefetch window, its channel's, and its connection's socket (SPEC §3.5.3). */
  get ready(): boolean {
    if (!this.noAck && this.prefetch !== 0 && this.unacked >= this.prefetch) return false;
    return this.channel.canDeliver(this.noAck);
  }
}
