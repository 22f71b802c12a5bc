import type { Channel } from './channel.js';

/**
 * Message statistics summed over channels, in RabbitMQ's terms (`message_stats`). The broker
 * keeps one for the channels that have closed, so that broker-wide totals never go down when
 * clients come and go; the live figure is that plus every open channel, summed at read time.
 * Nothing here runs per message: channels count with plain increments and this reads them.
 */
export class ChannelTotals {
  /** Publishes received. */
  publish = 0;
  /** Publishes received on channels in confirm mode. */
  publishConfirm = 0;
  /** Publishes acked to their publisher. */
  confirm = 0;
  /** Unroutable `mandatory` publishes sent back with basic.return. */
  returnUnroutable = 0;
  /** Unroutable publishes dropped. */
  dropUnroutable = 0;
  /** Consumer deliveries and gets (every one takes a delivery tag). */
  deliverGet = 0;
  deliverNoAck = 0;
  get = 0;
  getNoAck = 0;
  getEmpty = 0;
  ack = 0;
  /** Messages put back for redelivery. */
  redeliver = 0;

  /** Consumer deliveries that wait for an ack. */
  get deliver(): number {
    return this.deliverGet - this.deliverNoAck - this.get - this.getNoAck;
  }

  /** Adds one channel's counters. */
  add(ch: Channel): this {
    this.publish += ch.publishTotal;
    this.publishConfirm += ch.confirms?.published ?? 0;
    this.confirm += ch.confirms?.confirmed ?? 0;
    this.returnUnroutable += ch.returnTotal;
    this.dropUnroutable += ch.dropTotal;
    this.deliverGet += ch.deliverGetTotal;
    this.deliverNoAck += ch.deliverNoAckTotal;
    this.get += ch.getTotal;
    this.getNoAck += ch.getNoAckTotal;
    this.getEmpty += ch.getEmptyTotal;
    this.ack += ch.ackTotal;
    this.redeliver += ch.redeliverTotal;
    return this;
  }

  /** Adds another sum (the closed channels of a broker). */
  addTotals(t: ChannelTotals): this {
    this.publish += t.publish;
    this.publishConfirm += t.publishConfirm;
    this.confirm += t.confirm;
    this.returnUnroutable += t.returnUnroutable;
    this.dropUnroutable += t.dropUnroutable;
    this.deliverGet += t.deliverGet;
    this.deliverNoAck += t.deliverNoAck;
    this.get += t.get;
    this.getNoAck += t.getNoAck;
    this.getEmpty += t.getEmpty;
    this.ack += t.ack;
    this.redeliver += t.redeliver;
    return this;
  }
}
