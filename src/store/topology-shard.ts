import type { QueueRef } from './message-shard.js';
import { Delta, Shard, type ShardHost } from './shard.js';
import type { TopologyBatch, TopologyOp } from './wire.js';

/** Rough bytes per topology op for the pending bound (names and arguments are small). */
const OP_BYTES = 256;

/** Topology changes in the order the broker made them: replaying them in order is always right. */
export class TopologyDelta extends Delta {
  readonly ops: TopologyOp[] = [];
  /** Queues deleted by these ops: their message rows go once the deletion is committed. */
  readonly deletedQueues: QueueRef[] = [];

  add(seq: number, op: TopologyOp): number {
    this.touch(seq);
    this.ops.push(op);
    this.count++;
    this.bytes += OP_BYTES;
    return OP_BYTES;
  }
}

/** The topology file's pipeline. Its checkpoints are small: always one part. */
export class TopologyShard extends Shard<TopologyDelta> {
  private readonly post: (worker: number, batch: TopologyBatch) => void;

  constructor(id: number, worker: number, file: string, host: ShardHost, post: (worker: number, batch: TopologyBatch) => void) {
    super(id, worker, file, host);
    this.post = post;
  }

  protected newDelta(): TopologyDelta {
    return new TopologyDelta();
  }

  send(delta: TopologyDelta, batch: number): Promise<void> {
    this.post(this.worker, { t: 'topo', batch, ops: delta.ops });
    return Promise.resolve();
  }

  record(seq: number, op: TopologyOp, deletedQueue: QueueRef | null = null): void {
    this.host.pendingChanged(this.delta.add(seq, op));
    if (deletedQueue !== null) this.delta.deletedQueues.push(deletedQueue);
  }
}
