import type { MessagesPart, TopologyBatch } from './wire.js';

/**
 * What a cluster leader plugs into the store (the store's only outward replication hook): the
 * change sets handed to the sync workers, when each commits, and how far confirms may go.
 * Followers apply the same change sets through {@link ReplicaStore}.
 */
export interface ReplicationSink {
  /** A checkpoint part is being posted to its worker; called before its buffers are transferred. */
  posted(part: MessagesPart | TopologyBatch): void;
  /**
   * `batch` of `shard` committed on this node. `durableBefore` is the sequence number committed
   * in every file just before it: confirms up to it need nothing this commit holds.
   */
  committed(shard: number, batch: number, durableBefore: number): void;
  /** Sequence number up to which confirms may go as far as replication goes; -1 refuses all. */
  confirmable(): number;
}
