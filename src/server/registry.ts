import type { Broker } from '../broker/broker.js';
import type { Session } from '../broker/session.js';
import type { Logger } from '../log/logger.js';
import { blockReason } from './flow-control.js';

/**
 * One open client connection, whichever front end (native, AMQP, WebSocket) accepted it. Admin
 * listings, the HTTP API and operator closes see connections only through this.
 */
export interface ClientConnection {
  /** Unique per daemon run (`c12`); also its broker session's id. */
  readonly id: string;
  /** `peer -> local` addresses: unique while open, the name RabbitMQ tools use. */
  readonly name: string;
  /** The name the client gave itself (`connectionName`, AMQP's `connection_name`), or null. */
  readonly userProvidedName: string | null;
  /** `Skiff 1.0`, `AMQP 0-9-1`, …: shown by `skiff list connections` and the HTTP API. */
  readonly protocol: string;
  /** The logged-in user; '' until authenticated. */
  readonly user: string;
  readonly peerHost: string;
  readonly peerPort: number;
  /** The local address and port the client connected to. */
  readonly host: string;
  readonly port: number;
  /** ms since the epoch. */
  readonly connectedAt: number;
  readonly heartbeatMs: number;
  readonly frameMax: number;
  readonly channelMax: number;
  readonly clientProperties: Readonly<Record<string, unknown>>;
  readonly channelCount: number;
  readonly bytesIn: number;
  readonly bytesOut: number;
  readonly publishes: number;
  /** Blocked by an alarm: a connection that publishes, while publishers are blocked. */
  readonly blocked: boolean;
  /** Its broker state (channels, consumers); null while it opens or closes. */
  readonly session: Session | null;
  /** Closes it, telling the client why in its own protocol (`replyCode` 320 for an operator). */
  close(replyCode: number, text: string): void;
  /** The broker's alarms changed; only connections that publish block (SPEC §3.1.4). */
  setBlocked(blocked: boolean): void;
}

/** A listener of the daemon: `{ protocol: 'skiff', host: '127.0.0.1', port: 5680 }`. */
export interface ListenerInfo {
  readonly protocol: string;
  readonly host: string;
  readonly port: number;
}

/**
 * The daemon's open client connections and its listeners, shared by every front end. It also
 * carries the broker's alarms to every connection, so flow control is the same on every wire.
 */
export class ConnectionRegistry {
  private readonly connections = new Map<string, ClientConnection>();
  private readonly listening: ListenerInfo[] = [];
  private readonly unsubscribe: () => void;

  constructor(
    private readonly broker: Broker,
    log: Logger,
  ) {
    this.unsubscribe = broker.onBlockedChange((blocked) => {
      const reasons = broker.alarmReasons;
      if (blocked) log.warn({ reasons, queuedBytes: broker.queuedBytes }, `blocking publishers: ${blockReason(reasons)}`);
      else log.warn({ queuedBytes: broker.queuedBytes }, 'alarms cleared: publishers unblocked');
      for (const c of this.connections.values()) c.setBlocked(blocked);
    });
  }

  /** A connection finished its handshake. */
  add(conn: ClientConnection): void {
    this.connections.set(conn.id, conn);
    if (this.broker.blocked) conn.setBlocked(true);
  }

  remove(conn: ClientConnection): void {
    if (this.connections.get(conn.id) === conn) this.connections.delete(conn.id);
  }

  /** In the order they opened, which is the order people expect in listings. */
  list(): IterableIterator<ClientConnection> {
    return this.connections.values();
  }

  get size(): number {
    return this.connections.size;
  }

  /** By id (`c12`) or by name (`127.0.0.1:50000 -> 127.0.0.1:5680`). */
  get(idOrName: string): ClientConnection | undefined {
    const byId = this.connections.get(idOrName);
    if (byId !== undefined) return byId;
    for (const c of this.connections.values()) if (c.name === idOrName) return c;
    return undefined;
  }

  /** A listener is bound; `listeners()` names it in the overview, health checks and status. */
  addListener(listener: ListenerInfo): void {
    this.listening.push(Object.freeze({ ...listener }));
  }

  listeners(): readonly ListenerInfo[] {
    return this.listening;
  }

  /** Stops carrying alarms (the daemon is stopping). */
  close(): void {
    this.unsubscribe();
  }
}
