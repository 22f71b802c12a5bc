import { Method, ReplyCode, type FrameWriter, type ParsedMethod } from '../../protocol/index.js';
import { Channel } from './channel.js';
import { Emitter, type EventMap } from './emitter.js';
import { ClosedError, ConnectionError, ConnectionLostError, ServerError } from './errors.js';
import { Link, type LinkOwner } from './link.js';
import { backoffDelay, reconnectSettings, type ConnectOptions, type ReconnectSettings } from './options.js';
import { replayTopology } from './recovery.js';
import { Topology } from './topology.js';
import type { TransportFactory } from './transport/transport.js';
import { parseUrls, type ParsedUrl } from './url.js';

/** `reconnecting`: the connection was lost; attempt `attempt` starts after `delayMs`. */
export interface ReconnectAttempt {
  attempt: number;
  delayMs: number;
  /** Why the connection was lost, or why the previous attempt failed. */
  cause: Error;
}

/** `reconnected`: the connection is back, with its topology, channels and consumers. */
export interface Reconnected {
  attempt: number;
  host: string;
  port: number;
}

/** The events of a {@link Connection}, each with its listener's arguments. */
export interface ConnectionEvents extends EventMap {
  /** The connection to the server was lost; reconnecting follows unless it is off or the cause is final. */
  disconnected: [cause: Error];
  reconnecting: [attempt: ReconnectAttempt];
  reconnected: [info: Reconnected];
  /** The broker asks publishers to wait; `alarm` names why (`memory high watermark`, a store backlog). */
  blocked: [alarm: string];
  /** Publishing may go on (also sent when a blocked connection is lost: the block went with it). */
  unblocked: [alarm: string];
  /** `tryPublish` returned false, and publishing may go on now. */
  drain: [];
  /** A server-named queue came back under a new name after a reconnect; its bindings and consumers follow it. */
  queueRenamed: [rename: { from: string; to: string }];
  /** Replaying one declaration after a reconnect failed (the rest went on); `what` names it. */
  recoveryError: [failure: { error: Error; what: string }];
  /** An exception thrown by a consumer or return callback of the application. */
  error: [err: unknown];
  /** The connection is over for good: `cause` is null after `close()`, else why (including giving up reconnecting). */
  closed: [cause: Error | null];
  /** The same as `closed` (its earlier name). */
  close: [cause: Error | null];
}

type Pending = { resolve: (p: ParsedMethod) => void; reject: (e: Error) => void };
type Waiter = { resolve: () => void; reject: (e: Error) => void; promise: Promise<void> | null };

const noop = (): void => {};

/** `'open'` · `'reconnecting'` (lost, retrying) · `'closing'` (close() under way) · `'closed'` (for good). */
export type ConnectionState = 'open' | 'reconnecting' | 'closing' | 'closed';

/** Causes of a lost connection that a new connection may cure. */
const RECOVERABLE_CLIENT_CODES = new Set([
  'ERR_SOCKET',
  'ERR_CONNECTION_LOST',
  'ERR_HEARTBEAT_TIMEOUT',
  'ERR_TIMEOUT',
  'ERR_CONNECTION_REFUSED',
  'ERR_CONNECT',
  'ERR_RECOVERY_LOCKED',
]);

/**
 * A connection to the daemon. Channels do the work; the connection carries them, answers
 * heartbeats, and reports its life through events ({@link ConnectionEvents}). When the
 * connection is lost it reconnects (unless `reconnect: false`), declares again what the
 * application declared, reopens its channels and resumes their consumers; `closed` resolves
 * only when it is over for good. Errors never throw out of an event.
 */
export class Connection extends Emitter<ConnectionEvents> {
  /** @internal */ link: Link | null = null;
  /** @internal What the application declared, to replay after a reconnect. */
  readonly topology = new Topology();
  /** @internal Reconnect settings; null when reconnecting is off. */
  readonly reconnectSettings: ReconnectSettings | null;
  /** @internal Bytes of publishes held by channels while disconnected. */
  heldBytes = 0;
  private lastWriter: FrameWriter | null = null;
  private readonly urls: ParsedUrl[];
  private readonly options: ConnectOptions;
  private readonly transport: TransportFactory;
  private readonly channels = new Map<number, Channel>();
  private nextChannel = 1;
  private stateNow: ConnectionState = 'open';
  private reconnectLoopRunning = false;
  private reconnectTimer: { timer: ReturnType<typeof setTimeout>; resolve: () => void } | null = null;
  private readonly channel0Waiters: Pending[] = [];
  /** Channel-0 requests made while reconnecting. */
  private connectedWaiters: Waiter[] = [];
  private writeWaiters: Waiter[] = [];
  private drainWanted = false;
  private blockAlarm = '';
  frameMax = 0;
  channelMax = 0;
  heartbeatMs = 0;
  serverName = '';
  serverProperties: Record<string, unknown> = {};
  /** The host and port of the server this connection is (or was last) connected to. */
  host = '';
  port = 0;
  /** True while the broker asks publishers to wait (SPEC §3.1.4). */
  blocked = false;
  private closeCause: Error | null = null;
  private resolveClosed!: (cause: Error | null) => void;
  /** Resolves when the connection is closed for good: with null after `close()`, else with the cause. */
  readonly closed: Promise<Error | null> = new Promise((r) => (this.resolveClosed = r));

  /** @internal use `connect` */
  constructor(urls: string | readonly string[], options: ConnectOptions, transport: TransportFactory) {
    super();
    this.urls = parseUrls(urls);
    this.reconnectSettings = reconnectSettings(options);
    this.options = options;
    this.transport = transport;
  }

  /** @internal The first connection: every URL once, in turn; rejects with the last failure. */
  async start(): Promise<void> {
    this.adopt(await this.connectAny());
  }

  /** Where the connection stands; see {@link ConnectionState}. */
  get state(): ConnectionState {
    return this.stateNow;
  }

  /** False once the connection is closed (or closing) for good; true while it reconnects. */
  get isOpen(): boolean {
    return this.stateNow === 'open' || this.stateNow === 'reconnecting';
  }

  /** @internal The frame writer of the current link (of the last one while reconnecting). */
  get writer(): FrameWriter {
    return (this.link?.writer ?? this.lastWriter) as FrameWriter;
  }

  /** Opens a channel; while reconnecting it opens once the connection is back. */
  async channel(): Promise<Channel> {
    this.assertOpen();
    if (this.stateNow === 'reconnecting') await this.whenConnected();
    return this.openChannel(false);
  }

  private async openChannel(internal: boolean): Promise<Channel> {
    const id = this.allocateChannelId();
    const ch = new Channel(this, id, internal);
    this.channels.set(id, ch);
    try {
      await ch.open();
    } catch (err) {
      this.channels.delete(id);
      throw err;
    }
    return ch;
  }

  private allocateChannelId(): number {
    const max = this.channelMax;
    for (let i = 0; i < max; i++) {
      const id = this.nextChannel;
      this.nextChannel = this.nextChannel >= max ? 1 : this.nextChannel + 1;
      if (!this.channels.has(id)) return id;
    }
    throw new ClosedError(`no free channel: all ${max} are open`);
  }

  /** @internal a channel is done (closed by either side). */
  releaseChannel(id: number): void {
    this.channels.delete(id);
  }

  /** @internal Opens the connection's own channel for replaying the topology. */
  internalChannel(): Promise<Channel> {
    return this.openChannel(true);
  }

  /** @internal Whether any channel consumes from `queue`. */
  hasConsumerOn(queue: string): boolean {
    for (const ch of this.channels.values()) if (ch.consumesFrom(queue)) return true;
    return false;
  }

  /** Closes the connection politely; pending calls reject with {@link ClosedError}. Stops reconnecting. */
  async close(): Promise<void> {
    if (this.stateNow === 'closed' || this.stateNow === 'closing') return;
    this.stateNow = 'closing';
    this.cancelReconnectTimer();
    const link = this.link;
    if (link !== null) await link.close();
    this.finish(null, new ClosedError('connection closed by the client'));
  }

  /** @internal */
  assertOpen(): void {
    if (!this.isOpen) throw new ClosedError('connection is closed', this.closeCause ?? undefined);
  }

  // ---- flow control ----

  /** @internal Whether a publish may be written now. */
  canWrite(): boolean {
    return this.stateNow === 'open' && this.link !== null && this.link.writer.writable && !this.blocked;
  }

  /**
   * @internal Resolves when the caller may write more: the socket is under its high-water mark,
   * the broker has not blocked publishing and the connection is up. Null when that is now.
   */
  writable(): Promise<void> | null {
    if (this.canWrite()) return null;
    return this.addWriteWaiter();
  }

  /** @internal `tryPublish` returned false: emit `drain` when writing may go on. */
  wantDrain(): void {
    this.drainWanted = true;
  }

  /** Resolves when publishing may go on (see `Channel.tryPublish`); rejects if the connection closes for good. */
  waitForDrain(): Promise<void> {
    if (!this.isOpen) {
      const p = Promise.reject(new ClosedError('connection is closed', this.closeCause ?? undefined));
      p.catch(noop);
      return p;
    }
    return this.writable() ?? Promise.resolve();
  }

  private addWriteWaiter(): Promise<void> {
    return addWaiter(this.writeWaiters);
  }

  private wakeWriters(): void {
    if (!this.canWrite()) return;
    const ws = this.writeWaiters;
    this.writeWaiters = [];
    for (const w of ws) w.resolve();
    if (this.drainWanted) {
      this.drainWanted = false;
      this.emit('drain');
    }
  }

  // ---- links ----

  /** Tries every URL once (in order, or shuffled); resolves with the first that completes the handshake. */
  private async connectAny(): Promise<Link> {
    const urls = this.options.shuffleHosts === true ? shuffled(this.urls) : this.urls;
    let last: Error | null = null;
    for (const u of urls) {
      if (this.stateNow === 'closing' || this.stateNow === 'closed') break;
      try {
        return await this.connectOne(u);
      } catch (err) {
        last = err as Error;
      }
    }
    throw last ?? new ClosedError('connection closed by the client');
  }

  private async connectOne(u: ParsedUrl): Promise<Link> {
    const timeoutMs = this.options.timeoutMs ?? 10_000;
    const deadline = Date.now() + timeoutMs;
    const target = { scheme: u.scheme, host: u.host, port: u.port, path: u.path, tls: u.tls };
    const transport = await this.transport(target, { timeoutMs, ...(this.options.tls !== undefined && { tls: this.options.tls }) });
    const link = new Link(transport, target, this.options.writeHighWaterMark ?? 1024 * 1024);
    // A server that accepts but never answers (a half-open path) must not hang the attempt.
    const timer = setTimeout(
      () => link.destroy(new ConnectionError('ERR_TIMEOUT', `timed out waiting for the handshake with ${u.host}:${u.port}`)),
      Math.max(1, deadline - Date.now()),
    );
    try {
      // EXTERNAL: no credentials; the server takes the user from the verified client certificate.
      const external = this.options.mechanism === 'EXTERNAL';
      await link.handshake(external ? '' : u.username, external ? '' : u.password, this.options, u.vhost);
    } finally {
      clearTimeout(timer);
    }
    return link;
  }

  private adopt(link: Link): void {
    const n = link.negotiated;
    if (n === null) throw new ConnectionError('ERR_PROTOCOL', 'link without a handshake');
    this.link = link;
    this.lastWriter = link.writer;
    link.writer.onDrain = () => this.wakeWriters();
    this.frameMax = n.frameMax;
    this.channelMax = n.channelMax;
    this.heartbeatMs = n.heartbeatMs;
    this.serverName = n.serverName;
    this.serverProperties = n.serverProperties;
    this.host = link.target.host;
    this.port = link.target.port;
    link.attach(this);
  }

  /** @internal {@link LinkOwner} */
  channelMethod(channel: number, p: ParsedMethod): void {
    this.channels.get(channel)?.onMethod(p);
  }

  /** @internal {@link LinkOwner} */
  connectionMethod(p: ParsedMethod): void {
    switch (p.def.id) {
      case Method.ConnectionBlocked:
        this.blocked = true;
        this.blockAlarm = p.args[0] as string;
        this.emit('blocked', this.blockAlarm);
        return;
      case Method.ConnectionUnblocked:
        this.blocked = false;
        this.emit('unblocked', this.blockAlarm);
        this.wakeWriters();
        return;
      default:
        this.channel0Waiters.shift()?.resolve(p);
    }
  }

  /** @internal {@link LinkOwner}: the link is gone. */
  linkClosed(link: Link, cause: Error): void {
    if (link !== this.link) return;
    this.link = null;
    if (this.stateNow === 'closing' || this.stateNow === 'closed') return;
    const wasBlocked = this.blocked;
    this.blocked = false;
    const settings = this.recoverable(cause) ? this.reconnectSettings : null;
    if (settings !== null) {
      for (const w of this.channel0Waiters.splice(0)) w.reject(new ConnectionLostError(`connection lost before the broker answered: ${cause.message}`, cause));
      for (const ch of [...this.channels.values()]) ch.linkLost(cause);
    }
    this.emit('disconnected', cause);
    if (wasBlocked) this.emit('unblocked', this.blockAlarm);
    if (settings === null) {
      this.finish(cause, cause);
      return;
    }
    this.stateNow = 'reconnecting';
    if (!this.reconnectLoopRunning) void this.reconnect(settings, cause);
  }

  private recoverable(cause: Error): boolean {
    if (cause instanceof ServerError) return cause.replyCode === ReplyCode.CONNECTION_FORCED || cause.replyCode === ReplyCode.INTERNAL_ERROR;
    return cause instanceof ConnectionError && RECOVERABLE_CLIENT_CODES.has(cause.code);
  }

  /** Backoff, a new link, the replay; again until it works, gives up, or the app closes. */
  private async reconnect(s: ReconnectSettings, cause: Error): Promise<void> {
    this.reconnectLoopRunning = true;
    let last = cause;
    try {
      for (let attempt = 1; this.stateNow === 'reconnecting'; attempt++) {
        if (attempt > s.maxAttempts) {
          const n = s.maxAttempts;
          const err = new ConnectionError('ERR_RECONNECT_FAILED', `gave up reconnecting after ${n} attempt${n === 1 ? '' : 's'}: ${last.message}`, { cause: last });
          this.finish(err, err);
          return;
        }
        const delayMs = backoffDelay(s, attempt, Math.random());
        this.emit('reconnecting', { attempt, delayMs, cause: last });
        await this.sleep(delayMs);
        if (this.stateNow !== 'reconnecting') return;
        try {
          const link = await this.connectAny();
          if (this.stateNow !== 'reconnecting') {
            link.destroy(new ClosedError('connection closed by the client'));
            return;
          }
          this.adopt(link);
          await this.recover();
          if (this.link !== link || !link.isOpen) throw new ConnectionLostError('connection lost while recovering', null);
          this.stateNow = 'open';
          this.emit('reconnected', { attempt, host: link.target.host, port: link.target.port });
          this.wakeConnected();
          this.wakeWriters();
          return;
        } catch (err) {
          last = err as Error;
          const link = this.link;
          if (link !== null) link.destroy(last);
          if (this.stateNow !== 'reconnecting') return;
          if (!this.recoverable(last) && !(last instanceof ConnectionLostError)) {
            this.emit('disconnected', last);
            this.finish(last, last);
            return;
          }
        }
      }
    } finally {
      this.reconnectLoopRunning = false;
    }
  }

  /** Declares the recorded topology again, then reopens every channel. */
  private async recover(): Promise<void> {
    await replayTopology(this, (e, ...a) => void this.emit(e, ...a));
    for (const ch of [...this.channels.values()]) if (!ch.internal) await ch.recover();
  }

  /** @internal A server-named queue has a new name: consumers follow it. */
  queueRenamed(from: string, to: string): void {
    for (const ch of this.channels.values()) ch.queueRenamed(from, to);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.reconnectTimer = null;
        resolve();
      }, ms);
      this.reconnectTimer = { timer, resolve };
    });
  }

  private cancelReconnectTimer(): void {
    const t = this.reconnectTimer;
    this.reconnectTimer = null;
    if (t === null) return;
    clearTimeout(t.timer);
    t.resolve();
  }

  private whenConnected(): Promise<void> {
    return addWaiter(this.connectedWaiters);
  }

  private wakeConnected(): void {
    const ws = this.connectedWaiters;
    this.connectedWaiters = [];
    for (const w of ws) w.resolve();
  }

  // ---- application errors and channel 0 ----

  /**
   * @internal A consumer or return callback threw. The connection is fine, so the error goes to
   * the application: the connection's 'error' listeners if it has any, else it is thrown as
   * uncaught, like an exception in any other callback.
   */
  applicationError(err: unknown): void {
    if (this.listenerCount('error') > 0) this.emit('error', err);
    else this.listenerError(err);
  }

  /** @internal Sends a request on channel 0 and resolves with its reply; waits while reconnecting. */
  async request0(methodId: number, args: unknown[]): Promise<ParsedMethod> {
    this.assertOpen();
    if (this.stateNow === 'reconnecting') await this.whenConnected();
    const link = this.link;
    if (link === null) throw new ClosedError('connection is closed', this.closeCause ?? undefined);
    return new Promise((resolve, reject) => {
      this.channel0Waiters.push({ resolve, reject });
      link.writer.method(0, methodId, args as never);
    });
  }

  /** Ends the connection for good: everything pending rejects with `rejectWith`. */
  private finish(cause: Error | null, rejectWith: Error): void {
    if (this.stateNow === 'closed') return;
    this.stateNow = 'closed';
    this.closeCause = cause;
    this.cancelReconnectTimer();
    const link = this.link;
    this.link = null;
    if (link !== null && link.isOpen) link.destroy(rejectWith);
    for (const w of this.channel0Waiters.splice(0)) w.reject(rejectWith);
    const closed = rejectWith instanceof ClosedError ? rejectWith : new ClosedError('connection is closed', rejectWith);
    for (const w of this.connectedWaiters.splice(0)) settleRejected(w, closed);
    for (const ch of [...this.channels.values()]) ch.connectionClosed(cause, rejectWith);
    this.channels.clear();
    // A publish waiting for room learns that its message may not have left (no silent hang).
    for (const w of this.writeWaiters.splice(0)) settleRejected(w, closed);
    this.resolveClosed(cause);
    this.emit('closed', cause);
    this.emit('close', cause);
  }
}

function addWaiter(list: Waiter[]): Promise<void> {
  const w: Waiter = { resolve: noop, reject: noop, promise: null };
  w.promise = new Promise<void>((resolve, reject) => {
    w.resolve = resolve;
    w.reject = reject;
  });
  list.push(w);
  return w.promise;
}

function settleRejected(w: Waiter, err: Error): void {
  // Marked handled first: the application may have ignored the promise.
  w.promise?.catch(noop);
  w.reject(err);
}

function shuffled<T>(xs: readonly T[]): T[] {
  const out = [...xs];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

/**
 * Opens a connection over `transport` to the first of `urls` that answers (each tried once,
 * in turn) and completes the handshake (SPEC §3.1.1). Transport-neutral: `connect` is this with
 * TCP in Node.js.
 */
export async function openConnection(urls: string | readonly string[], options: ConnectOptions, transport: TransportFactory): Promise<Connection> {
  const conn = new Connection(urls, options, transport);
  await conn.start();
  return conn;
}
