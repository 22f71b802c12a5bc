import type { Duplex } from 'node:stream';
import {
  FrameDecoder,
  FrameType,
  FrameWriter,
  HEADER_LENGTH,
  Method,
  PROTOCOL_HEADER,
  PROTOCOL_MAJOR,
  PROTOCOL_MINOR,
  ProtocolError,
  ReplyCode,
  argsOf,
  checkProtocolHeader,
  methodName,
  parseMethodAt,
  type ArgsOf,
  type FrameSink,
  type ParsedMethod,
} from '../../../protocol/index.js';
import { describeProtocolHeader } from '../../../protocol/amqp/protocol-header.js';
import type { Channel, ChannelSink } from '../../broker/channel.js';
import type { Message } from '../../broker/message.js';
import type { Session } from '../../broker/session.js';
import { nativeContent } from '../../broker/stored-content.js';
import type { Logger } from '../../log/logger.js';
import type { Principal } from '../auth.js';
import type { AccessGuard } from '../permissions.js';
import { blockReason } from '../flow-control.js';
import type { PeerInfo } from '../peer.js';
import type { ClientConnection } from '../registry.js';
import type { ServerContext } from './context.js';
import { handleChannelMethod } from './handlers.js';
import { checkChannelLimit, enterVhost } from '../vhost-access.js';
import { writeSideOf } from '../write-side.js';

type State = 'header' | 'opening' | 'authenticating' | 'open' | 'closing' | 'closed';

/** How long a peer has to answer our close before we drop the socket. */
const CLOSE_TIMEOUT_MS = 2000;
/** How long a client has between connecting and connection.open (SPEC §3.1.1). */
const OPEN_TIMEOUT_MS = 10_000;

/**
 * The server side of one channel: a broker {@link Channel} plus its wire state. It is the
 * channel's {@link ChannelSink}, turning broker events into frames.
 */
export class ServerChannel implements ChannelSink {
  readonly id: number;
  readonly conn: Connection;
  channel!: Channel;
  /** We sent channel.close and are discarding frames until close-ok (SPEC §3.2). */
  closing = false;

  constructor(conn: Connection, id: number) {
    this.conn = conn;
    this.id = id;
  }

  get writable(): boolean {
    return this.conn.writer.writable;
  }

  deliver(consumerTag: string, deliveryTag: number, m: Message): void {
    const content = nativeContent(m.content);
    const sent = this.conn.writer.contentRaw(
      this.id,
      Method.BasicDeliver,
      [consumerTag, deliveryTag, m.redelivered, m.exchange, m.routingKey, m.persistent],
      content,
    );
    if (!sent) this.tooLarge('basic.deliver', content.length);
  }

  returned(code: number, text: string, exchange: string, routingKey: string, content: Buffer): void {
    if (!this.conn.writer.contentRaw(this.id, Method.BasicReturn, [code, text, exchange, routingKey], content)) this.tooLarge('basic.return', content.length);
  }

  /**
   * A message that does not fit in one frame of this connection's `frameMax` is never sent
   * (SPEC §2.1): the channel is closed with CONTENT_TOO_LARGE, so its unacked messages, this one
   * included, go back to their queue for a consumer with room. Deferred: the broker is in the
   * middle of dispatching.
   */
  tooLarge(method: string, contentBytes: number): void {
    if (this.closing) return;
    this.closing = true;
    const text = `${method} of a message of ${contentBytes - 4} bytes (properties and body) does not fit in frameMax ${this.conn.frameMax}`;
    queueMicrotask(() => {
      this.closing = false;
      this.failed(new ProtocolError(ReplyCode.CONTENT_TOO_LARGE, text));
    });
  }

  confirm(seq: number, multiple: boolean, ack: boolean): void {
    if (ack) this.conn.writer.method(this.id, Method.BasicAck, [seq, multiple]);
    else this.conn.writer.method(this.id, Method.BasicNack, [seq, multiple, false]);
  }

  cancelled(consumerTag: string): void {
    this.conn.writer.method(this.id, Method.BasicCancel, [consumerTag]);
  }

  /** The broker closes this channel on its own (a consumer timeout): channel.close to the client. */
  failed(err: ProtocolError): void {
    if (this.closing || !this.conn.isOpen) return;
    this.conn.log.info({ channel: this.id, err: err.message }, 'channel closed by the broker');
    this.conn.channelError(this, err);
  }
}

let connectionSeq = 0;

/**
 * One client connection: protocol header, handshake, frame dispatch, channel lifecycle,
 * heartbeats, errors (SPEC §3.1, §3.2). Errors caused by the client close that channel or this
 * connection, never anything else.
 */
export class Connection implements FrameSink, ClientConnection {
  readonly id = `c${++connectionSeq}`;
  /** `Skiff 1.0`, or `Skiff 1.0 (WebSocket)` over a WebSocket. */
  readonly protocol: string;
  readonly stream: Duplex;
  readonly peer: PeerInfo;
  readonly writer: FrameWriter;
  readonly log: Logger;
  readonly ctx: ServerContext;
  readonly channels = new Map<number, ServerChannel>();
  readonly remoteAddress: string;
  readonly name: string;
  session: Session | null = null;
  principal: Principal | null = null;
  /** What the user may do in the vhost, from open-ok on; null when the front end has no permissions. */
  access: AccessGuard | null = null;
  clientProperties: Record<string, unknown> = {};
  frameMax: number;
  channelMax: number;
  heartbeatMs = 0;
  readonly connectedAt = Date.now();
  private state: State = 'header';
  private readonly decoder: FrameDecoder;
  private headerBuf: Buffer | null = null;
  private lastReadAt = Date.now();
  private timer: NodeJS.Timeout | null = null;
  private heartbeatTimer: NodeJS.Timeout | null = null;
  /** Set while the broker blocks this publishing connection and we stopped reading (SPEC §3.1.4). */
  private paused = false;
  private hasPublished = false;
  /** The client's own connection.close, for the log line when the socket goes. */
  private clientClose: { replyCode: number; text: string } | null = null;
  /** Bytes received, frames and publishes, for admin listings. */
  bytesIn = 0;
  publishes = 0;
  private closedResolve!: () => void;
  readonly closed = new Promise<void>((r) => (this.closedResolve = r));

  constructor(stream: Duplex, peer: PeerInfo, ctx: ServerContext) {
    this.stream = stream;
    this.peer = peer;
    this.protocol = peer.transport === undefined ? 'Skiff 1.0' : `Skiff 1.0 (${peer.transport})`;
    this.ctx = ctx;
    this.remoteAddress = peer.remoteAddress;
    this.name = `${peer.remoteAddress}:${peer.remotePort} -> ${peer.localAddress}:${peer.localPort}`;
    this.log = ctx.log.child({ conn: this.id });
    this.frameMax = ctx.frameMax;
    this.channelMax = ctx.channelMax;
    this.writer = new FrameWriter(writeSideOf(stream), ctx.socketHighWaterMark);
    this.writer.onDrain = () => this.drained();
    this.decoder = new FrameDecoder(this, ctx.frameMax);
    stream.on('data', (chunk: Buffer) => this.onData(chunk));
    stream.on('error', (err) => this.log.debug({ err: err.message }, 'socket error'));
    stream.on('close', () => this.onSocketClose());
    this.timer = setTimeout(() => {
      if (this.state === 'header' || this.state === 'opening' || this.state === 'authenticating') {
        this.log.info('no connection.open within 10 s, closing');
        this.destroy();
      }
    }, OPEN_TIMEOUT_MS);
    this.timer.unref();
  }

  get isOpen(): boolean {
    return this.state === 'open';
  }

  get user(): string {
    return this.principal?.user ?? '';
  }

  // ---- ClientConnection, for listings ----

  get userProvidedName(): string | null {
    const given = this.clientProperties['connectionName'];
    return typeof given === 'string' ? given : null;
  }

  get peerHost(): string {
    return this.peer.remoteAddress;
  }

  get peerPort(): number {
    return this.peer.remotePort;
  }

  get host(): string {
    return this.peer.localAddress;
  }

  get port(): number {
    return this.peer.localPort;
  }

  get channelCount(): number {
    return this.channels.size;
  }

  get bytesOut(): number {
    return this.writer.bytesWritten;
  }

  get blocked(): boolean {
    return this.publishes !== 0 && this.ctx.broker.blocked;
  }

  close(replyCode: number, text: string): void {
    this.closeConnection(replyCode, text);
  }

  // ---- input ----

  private onData(chunk: Buffer): void {
    this.lastReadAt = Date.now();
    this.bytesIn += chunk.length;
    if (this.state === 'closed') return;
    if (this.state === 'header') {
      chunk = this.readHeader(chunk);
      if (chunk.length === 0) return;
    }
    try {
      this.decoder.push(chunk);
    } catch (err) {
      this.fail(err);
    }
  }

  /** Collects the 8-byte protocol header (SPEC §1); returns what follows it. */
  private readHeader(chunk: Buffer): Buffer {
    const have = this.headerBuf === null ? chunk : Buffer.concat([this.headerBuf, chunk]);
    if (have.length < HEADER_LENGTH) {
      this.headerBuf = have;
      // Bytes that already differ from the magic need not wait for the rest (SPEC §1.1).
      if (PROTOCOL_HEADER.subarray(0, Math.min(have.length, 6)).equals(have.subarray(0, 6))) return Buffer.alloc(0);
    }
    this.headerBuf = null;
    const check = checkProtocolHeader(have.subarray(0, HEADER_LENGTH));
    if (!check.ok) {
      // A client of another protocol (an AMQP 0-9-1 library on the wrong port) is worth a warning that says which.
      const tried = describeProtocolHeader(have);
      this.log.warn({ reason: check.reason, tried, remote: this.remoteAddress }, `refused a client speaking ${tried}: this port speaks the Skiff native protocol`);
      this.state = 'closed';
      this.stream.end(PROTOCOL_HEADER);
      // A peer that keeps its side open would otherwise hold the socket forever.
      if (this.timer !== null) clearTimeout(this.timer);
      this.timer = setTimeout(() => this.stream.destroy(), CLOSE_TIMEOUT_MS);
      this.timer.unref();
      return Buffer.alloc(0);
    }
    this.state = 'opening';
    this.writer.method(0, Method.ConnectionStart, [
      PROTOCOL_MAJOR,
      PROTOCOL_MINOR,
      { product: 'skiff', version: this.ctx.version, platform: `Node.js ${process.version}` },
      this.certUser() === null ? ['PLAIN'] : ['PLAIN', 'EXTERNAL'],
      this.ctx.frameMax,
      this.ctx.channelMax,
      this.ctx.heartbeatMs,
    ]);
    return have.subarray(HEADER_LENGTH);
  }

  /** {@link FrameSink}: every whole frame from the decoder. */
  onFrame(type: number, channel: number, payload: Buffer): void {
    this.onFrameAt(type, channel, payload, 0, payload.length);
  }

  /** {@link FrameSink}: the hot path, without a view per frame. */
  onFrameAt(type: number, channel: number, buf: Buffer, start: number, end: number): void {
    if (this.state === 'closed') return;
    try {
      if (type === FrameType.HEARTBEAT) {
        if (channel !== 0 || end !== start) throw new ProtocolError(ReplyCode.FRAME_ERROR, 'heartbeat frame must be empty and on channel 0');
        // Before open-ok only connection.open is valid, a heartbeat included (SPEC §3.1.1).
        if (this.state === 'opening' || this.state === 'authenticating') throw new ProtocolError(ReplyCode.COMMAND_INVALID, 'heartbeat before connection.open-ok');
        return;
      }
      let parsed: ParsedMethod;
      try {
        parsed = parseMethodAt(buf, start, end, 'client');
      } catch (err) {
        // A malformed method on an open channel is a channel error (SPEC §3.2); else connection.
        if (err instanceof ProtocolError && !err.isConnectionError && channel !== 0 && this.state === 'open') {
          const ch = this.channels.get(channel);
          if (ch !== undefined && !ch.closing) return this.channelError(ch, err);
        }
        throw err;
      }
      if (channel === 0) this.onConnectionMethod(parsed);
      else this.onChannelMethod(channel, parsed);
    } catch (err) {
      this.fail(err);
    }
  }

  private onConnectionMethod(p: ParsedMethod): void {
    const id = p.def.id;
    if (this.state === 'closing') {
      if (id === Method.ConnectionCloseOk || id === Method.ConnectionClose) this.destroy();
      return;
    }
    if (this.state === 'opening' || this.state === 'authenticating') {
      if (id !== Method.ConnectionOpen || this.state === 'authenticating') {
        throw new ProtocolError(ReplyCode.COMMAND_INVALID, `expected connection.open, got ${p.def.name}`, { methodId: id });
      }
      this.open(argsOf(p, Method.ConnectionOpen));
      return;
    }
    switch (id) {
      case Method.ConnectionClose:
        this.writer.method(0, Method.ConnectionCloseOk, []);
        this.writer.flush();
        // Logged with the "connection closed" line, one line per connection's end.
        const { replyCode, text } = argsOf(p, Method.ConnectionClose);
        this.clientClose = { replyCode, text };
        this.state = 'closed';
        this.cleanup();
        this.stream.end();
        return;
      case Method.ConnectionCloseOk:
        return;
      case Method.ConnectionOpen:
        throw new ProtocolError(ReplyCode.COMMAND_INVALID, 'connection is already open', { methodId: id });
      default: {
        const handler = this.ctx.connectionHandlers.get(id);
        if (handler === undefined) {
          throw new ProtocolError(ReplyCode.COMMAND_INVALID, `${p.def.name} is not allowed on channel 0`, { methodId: id });
        }
        handler(this, p);
      }
    }
  }

  private open({ username, password, frameMax, channelMax, heartbeatMs, clientProperties, vhost }: ArgsOf<typeof Method.ConnectionOpen>): void {
    const tuned = (asked: number, max: number): number => (asked === 0 || asked > max ? max : asked);
    this.frameMax = tuned(frameMax, this.ctx.frameMax);
    if (this.frameMax < 4096) throw new ProtocolError(ReplyCode.SYNTAX_ERROR, 'connection.open: frameMax must be 0 or at least 4096', { methodId: Method.ConnectionOpen });
    this.channelMax = tuned(channelMax, this.ctx.channelMax);
    const serverHb = this.ctx.heartbeatMs;
    // 0 from either side turns heartbeats off; otherwise the lower value wins (SPEC §3.1.1).
    this.heartbeatMs = heartbeatMs === 0 || serverHb === 0 ? 0 : Math.min(heartbeatMs, serverHb);
    this.clientProperties = clientProperties;
    this.state = 'authenticating';
    // EXTERNAL (SPEC §3.1.1): no credentials on a connection whose verified client certificate names a user.
    const certUser = username === '' && password === '' ? this.certUser() : null;
    const checked = certUser !== null ? this.ctx.auth.certificateLogin?.(certUser, this.remoteAddress) ?? null : this.ctx.auth.authenticate(username, password, this.remoteAddress);
    Promise.resolve(checked).then(
      (principal) => this.opened(principal, username, vhost),
      (err: unknown) => this.fail(err),
    );
  }

  private opened(principal: Principal | null, username: string, vhost: string): void {
    if (this.stream.destroyed || this.state !== 'authenticating') return;
    this.state = 'opening';
    if (principal === null) {
      this.log.warn({ user: username, remote: this.remoteAddress }, 'authentication failed');
      this.closeConnection(ReplyCode.ACCESS_REFUSED, 'ACCESS_REFUSED - login refused: wrong username or password', Method.ConnectionOpen);
      return;
    }
    let entered: ReturnType<typeof enterVhost>;
    try {
      entered = enterVhost(this.ctx, principal.user, vhost);
    } catch (err) {
      const e = err as ProtocolError;
      this.log.info({ user: principal.user, vhost, err: e.message }, 'connection refused: vhost');
      this.closeConnection(e.replyCode, e.replyText, Method.ConnectionOpen);
      return;
    }
    this.principal = principal;
    this.access = entered.access;
    this.state = 'open';
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.decoder.maxFrameBytes = this.frameMax;
    this.writer.maxFrameBytes = this.frameMax;
    const name = typeof this.clientProperties['connectionName'] === 'string' ? (this.clientProperties['connectionName'] as string) : this.name;
    this.session = entered.broker.openSession({
      id: this.id,
      name,
      user: principal.user,
      peer: `${this.peer.remoteAddress}:${this.peer.remotePort}`,
      connectedAt: this.connectedAt,
    });
    this.writer.method(0, Method.ConnectionOpenOk, [this.frameMax, this.channelMax, this.heartbeatMs, this.name]);
    this.startHeartbeats();
    this.ctx.registry.add(this);
    this.log.info({ user: principal.user, vhost, remote: this.remoteAddress, name }, 'connection opened');
  }

  private onChannelMethod(channel: number, p: ParsedMethod): void {
    if (this.state === 'closing') return;
    // Before open-ok (including while credentials are checked) only connection.open is valid.
    if (this.state !== 'open') {
      throw new ProtocolError(ReplyCode.COMMAND_INVALID, `${p.def.name} before connection.open-ok`, { methodId: p.def.id });
    }
    const id = p.def.id;
    let ch = this.channels.get(channel);
    if (id === Method.ChannelOpen) {
      if (channel > this.channelMax) {
        throw new ProtocolError(ReplyCode.CHANNEL_ERROR, `channel ${channel} is above channelMax ${this.channelMax}`, { methodId: id });
      }
      if (ch !== undefined) throw new ProtocolError(ReplyCode.CHANNEL_ERROR, `channel ${channel} is already open`, { methodId: id });
      checkChannelLimit(this.ctx, this.user);
      ch = new ServerChannel(this, channel);
      ch.channel = (this.session as Session).openChannel(channel, ch);
      this.channels.set(channel, ch);
      this.writer.method(channel, Method.ChannelOpenOk, []);
      return;
    }
    if (ch === undefined) {
      throw new ProtocolError(ReplyCode.CHANNEL_ERROR, `${p.def.name} on channel ${channel}, which is not open`, { methodId: id });
    }
    if (ch.closing) {
      if (id === Method.ChannelCloseOk || id === Method.ChannelClose) this.dropChannel(ch);
      return;
    }
    switch (id) {
      case Method.ChannelClose:
        this.dropChannel(ch);
        this.writer.method(channel, Method.ChannelCloseOk, []);
        return;
      case Method.ChannelCloseOk:
        return;
      default:
        try {
          if (id === Method.BasicPublish) this.notePublish();
          handleChannelMethod(ch, p);
        } catch (err) {
          if (err instanceof ProtocolError) {
            // The broker does not know which method it serves; the close names it (SPEC §3.1.2).
            if (err.methodId === 0) err.methodId = id;
            if (!err.isConnectionError) {
              this.channelError(ch, err);
              return;
            }
          }
          throw err;
        }
    }
  }

  private notePublish(): void {
    this.publishes++;
    if (!this.hasPublished) {
      this.hasPublished = true;
      if (this.ctx.broker.blocked) this.setBlocked(true);
    }
  }

  /**
   * Closes one channel with an error; the connection and other channels carry on.
   * @internal also used by {@link ServerChannel.failed} for broker-initiated closes.
   */
  channelError(ch: ServerChannel, err: ProtocolError): void {
    this.log.debug({ channel: ch.id, code: err.code, err: err.message }, 'channel error');
    ch.closing = true;
    ch.channel.session.closeChannel(ch.id);
    this.writer.method(ch.id, Method.ChannelClose, [err.replyCode, err.replyText, err.methodId]);
  }

  private dropChannel(ch: ServerChannel): void {
    this.channels.delete(ch.id);
    this.session?.closeChannel(ch.id);
  }

  // ---- errors and closing ----

  /** A connection error: tell the peer why, then close (SPEC §4). */
  private fail(err: unknown): void {
    if (this.state === 'closed') return;
    if (err instanceof ProtocolError) {
      this.log.info({ code: err.code, err: err.message, method: err.methodId ? methodName(err.methodId) : undefined }, 'connection error');
      this.closeConnection(err.replyCode, err.replyText, err.methodId);
      return;
    }
    this.log.error({ err }, 'internal error while handling a frame');
    this.closeConnection(ReplyCode.INTERNAL_ERROR, 'INTERNAL_ERROR - the server failed handling this connection; see its log', 0);
  }

  /** Sends connection.close and waits (bounded) for close-ok. Used by errors and operators. */
  closeConnection(code: number, text: string, methodId = 0): void {
    if (this.state === 'closed' || this.state === 'closing') return;
    this.state = 'closing';
    this.cleanup();
    this.writer.method(0, Method.ConnectionClose, [code, text, methodId]);
    this.writer.flush();
    const t = setTimeout(() => this.destroy(), CLOSE_TIMEOUT_MS);
    t.unref();
    this.timer = t;
    if (this.decoder.failed) this.stream.end();
  }

  /** Releases broker state: channels close (requeueing unacked), exclusive queues go. */
  private cleanup(): void {
    if (this.heartbeatTimer !== null) clearTimeout(this.heartbeatTimer);
    this.heartbeatTimer = null;
    for (const ch of this.channels.values()) ch.closing = true;
    this.channels.clear();
    if (this.session !== null) {
      this.session.close();
      this.ctx.registry.remove(this);
      this.session = null;
    }
  }

  destroy(): void {
    if (this.state !== 'closed') this.state = 'closed';
    this.cleanup();
    this.stream.destroy();
  }

  private onSocketClose(): void {
    // Logged once per connection that got past login, however it ended (close, error, drop).
    const wasOpen = this.principal !== null;
    this.state = 'closed';
    if (this.timer !== null) clearTimeout(this.timer);
    this.cleanup();
    if (wasOpen) {
      this.log.info({ user: this.user, remote: `${this.peer.remoteAddress}:${this.peer.remotePort}`, name: this.userProvidedName ?? this.name, ...this.clientClose }, 'connection closed');
    }
    this.closedResolve();
  }

  /** The user of a verified client certificate, when `tls_cert_login` is on; else null. */
  private certUser(): string | null {
    return this.ctx.certLogin ? (this.peer.certificateUser ?? null) : null;
  }

  // ---- heartbeats and flow control ----

  private startHeartbeats(): void {
    if (this.heartbeatMs !== 0) this.heartbeatDue();
  }

  /**
   * One timer for both duties of SPEC §3.1.3, set for whichever falls due first: a heartbeat
   * once nothing has been sent for `heartbeatMs / 2`, the close once the peer has sent nothing
   * for `2 × heartbeatMs`. Set from deadlines rather than ticking, so neither slips by a tick.
   */
  private heartbeatDue(): void {
    const hb = this.heartbeatMs;
    const now = Date.now();
    // While blocked we are not reading, so the peer's silence proves nothing (SPEC §3.1.4).
    if (!this.paused && now - this.lastReadAt >= 2 * hb) {
      this.log.info({ heartbeatMs: hb, user: this.user, remote: this.remoteAddress }, 'missed heartbeats, closing');
      this.destroy();
      return;
    }
    if (now - this.writer.lastWriteAt >= hb / 2) {
      this.writer.heartbeat();
      this.writer.flush();
    }
    const sendAt = this.writer.lastWriteAt + hb / 2;
    const deadAt = this.paused ? now + hb : this.lastReadAt + 2 * hb;
    this.heartbeatTimer = setTimeout(() => this.heartbeatDue(), Math.max(1, Math.min(sendAt, deadAt) - now));
    this.heartbeatTimer.unref();
  }

  /** The broker's alarms changed (SPEC §3.1.4); only publishing connections block. */
  setBlocked(blocked: boolean): void {
    if (!this.hasPublished || this.paused === blocked || this.state !== 'open') return;
    this.paused = blocked;
    if (blocked) {
      this.writer.method(0, Method.ConnectionBlocked, [blockReason(this.ctx.broker.alarmReasons)]);
      this.stream.pause();
    } else {
      this.writer.method(0, Method.ConnectionUnblocked, []);
      this.lastReadAt = Date.now();
      this.stream.resume();
    }
  }

  private drained(): void {
    for (const ch of this.channels.values()) ch.channel.redispatch();
  }
}
