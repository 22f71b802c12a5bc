import { ProtocolError, ReplyCode } from '../../protocol/index.js';
import type { Broker } from './broker.js';
import { Channel, type ChannelSink } from './channel.js';

/** What the broker knows of a client connection: for exclusivity, listing and cleanup. */
export interface SessionInfo {
  /** Unique per daemon run. */
  id: string;
  name: string;
  user: string;
  peer: string;
  connectedAt: number;
}

/** One client connection's broker-side state: its channels and what it exclusively owns. */
export class Session {
  readonly info: SessionInfo;
  readonly channels = new Map<number, Channel>();
  /** The broker of the session's vhost. */
  readonly broker: Broker;
  closed = false;
  /** Counters for admin listing. */
  published = 0;

  constructor(broker: Broker, info: SessionInfo) {
    this.broker = broker;
    this.info = info;
  }

  get id(): string {
    return this.info.id;
  }

  openChannel(id: number, sink: ChannelSink): Channel {
    if (this.channels.has(id)) throw new ProtocolError(ReplyCode.CHANNEL_ERROR, `channel ${id} is already open`);
    const ch = new Channel(this.broker, this, id, sink);
    this.channels.set(id, ch);
    return ch;
  }

  closeChannel(id: number): void {
    const ch = this.channels.get(id);
    if (ch === undefined) return;
    this.channels.delete(id);
    ch.close();
  }

  /** Closes every channel (requeueing their unacked messages) and deletes exclusive queues. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const id of [...this.channels.keys()]) this.closeChannel(id);
    this.broker.sessionClosed(this);
  }
}
