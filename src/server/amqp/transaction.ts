/** One thing a transactional channel holds until tx.commit (RabbitMQ's tx semantics). */
export type TxOp =
  | {
      readonly kind: 'publish';
      readonly exchange: string;
      readonly routingKey: string;
      readonly mandatory: boolean;
      readonly persistent: boolean;
      readonly priority: number;
      readonly expiration: number;
      readonly content: Buffer;
    }
  | { readonly kind: 'ack'; readonly tag: number; readonly multiple: boolean }
  | { readonly kind: 'nack'; readonly tag: number; readonly multiple: boolean; readonly requeue: boolean }
  | { readonly kind: 'reject'; readonly tag: number; readonly requeue: boolean };

/**
 * A channel in tx mode: publishes, acks, nacks and rejects are held and applied in order at
 * commit, or dropped at rollback. Deliveries are not transactional (nor are they in RabbitMQ).
 */
export class Transaction {
  ops: TxOp[] = [];

  take(): TxOp[] {
    const ops = this.ops;
    this.ops = [];
    return ops;
  }
}
