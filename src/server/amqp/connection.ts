import type { Duplex } from 'node:stream';
import { storedHeadroom } from '../../../protocol/amqp/content.js';
import type { AmqpError } from '../../../protocol/amqp/errors.js';
import { AmqpFrameDecoder, type AmqpFrameSink } from '../../../protocol/amqp/frame-decoder.js';
import type { AmqpHeaderCheck } from '../../../protocol/amqp/protocol-header.js';
import { Method, type AmqpMethod, type BasicProperties, type ContentMethod } from '../../../protocol/amqp/spec.generated.js';
import type { FieldTable } from '../../../protocol/amqp/values.js';
import { AmqpFrameWriter } from '../../../protocol/amqp/writer.js';
import type { ProtocolError } from '../../../protocol/index.js';
import type { Broker } from '../../broker/broker.js';
import type { Session } from '../../broker/session.js';
import type { Logger } from '../../log/logger.js';
import type { AccessGuard, Permissions } from '../permissions.js';
import type { Authenticator, Principal } from '../auth.js';
import { blockReason } from '../flow-control.js';
import type { PeerInfo } from '../peer.js';
import type { ClientConnection, ConnectionRegistry } from '../registry.js';
import { AmqpChannel, type AmqpChannelHost } from './channel.js';
import { amqpError, toAmqpError } from './errors.js';
import { MECHANISMS, parseSaslResponse } from './sasl.js';
import { serverProperties } from './server-properties.js';
import { checkChannelLimit, enterVhost } from '../vhost-access.js';
import { writeSideOf } from '../write-side.js';
import type { Limits } from '../limits.js';
import type { VirtualHosts } from '../../broker/vhosts.js';

/** What every AMQP connection shares. */
export interface AmqpContext {
  /** The default vhost's broker; alarms and memory are every vhost's. */
  readonly broker: Broker;
  /** Every vhost: connection.open's virtual-host picks one. */
  readonly vhosts: VirtualHosts;
  /** User and vhost limits, as the native front end applies them; absent = none. */
  readonly limits?: Limits;
  readonly log: Logger;
  readonly auth: Authenticator;
  readonly version: string;
  /** The largest frame offered in connection.tune (bytes). */
  readonly frameMax: number;
  readonly channelMax: number;
  /** The heartbeat offered in connection.tune, in ms (sent in whole seconds). */
  readonly heartbeatMs: number;
  readonly socketHighWaterMark: number;
  /** Where open connections are listed and alarms come from. */
  readonly registry: ConnectionRegistry;
  /** Per-user permissions; absent = every user may use every object. */
  readonly permissions?: Permissions;
}

/** Handshake states, named as RabbitMQ's reader names them in its errors. */
type State = 'header' | 'starting' | 'authenticating' | 'tuning' | 'opening' | 'running' | 'closing' | 'closed';

/** RabbitMQ's handshake_timeout: from connecting to connection.open. */
const HANDSHAKE_TIMEOUT_MS = 10_000;
/** How long a peer has to answer our connection.close before the socket is dropped. */
const CLOSE_TIMEOUT_MS = 2000;
const FRAME_MIN = 4096;

let connectionSeq = 0;

/**
 * One AMQP 0-9-1 connection over any duplex byte stream (a TCP socket, or a WebSocket's
 * stream): the handshake, channel lifecycle, heartbeats, flow control and errors, as RabbitMQ
 * 3.x's reader does them. It drives one broker {@link Session}, like a native connection.
 */
export class AmqpConnection implements AmqpFrameSink, AmqpChannelHost, ClientConnection {
  readonly id = `a${++connectionSeq}`;
  readonly protocol = 'AMQP 0-9-1';
  readonly stream: Duplex;
  readonly peer: PeerInfo;
  readonly writer: AmqpFrameWriter;
  readonly log: Logger;
  readonly ctx: AmqpContext;
  readonly name: string;
  readonly connectedAt = Date.now();
  readonly channels = new Map<number, AmqpChannel>();
  session: Session | null = null;
  principal: Principal | null = null;
  /** What the user may do in the vhost, once authenticated; null without permissions. */
  access: AccessGuard | null = null;
  clientProperties: FieldTable = {};
  cancelNotify = false;
  private blockedNotify = false;
  frameMax: number;
  channelMax: number;
  heartbeatMs = 0;
  publishes = 0;
  bytesIn = 0;
  private state: State = 'header';
  private readonly decoder: AmqpFrameDecoder;
  private mechanism = '';
  private timer: NodeJS.Timeout | null = null;
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private lastReadAt = Date.now();
  private isBlockedNow = false;
  private hasPublished = false;
  private closedResolve!: () => void;
  readonly closed = new Promise<void>((r) => (this.closedResolve = r));

  constructor(stream: Duplex, peer: PeerInfo, ctx: AmqpContext) {
    this.stream = stream;
    this.peer = peer;
    this.ctx = ctx;
    this.name = `${peer.remoteAddress}:${peer.remotePort} -> ${peer.localAddress}:${peer.localPort}`;
    this.log = ctx.log.child({ conn: this.id, protocol: 'amqp' });
    this.frameMax = ctx.frameMax;
    this.channelMax = ctx.channelMax;
    this.writer = new AmqpFrameWriter(writeSideOf(stream), { frameMax: FRAME_MIN, highWaterMark: ctx.socketHighWaterMark });
    this.writer.onDrain = () => {
      for (const ch of this.channels.values()) ch.channel.redispatch();
    };
    this.decoder = new AmqpFrameDecoder(this, { frameMax: ctx.frameMax, expectProtocolHeader: true, bodyHeadroom: storedHeadroom });
    stream.on('data', (chunk: Buffer) => this.onData(chunk));
    stream.on('error', (err) => this.log.debug({ err: err.message }, 'stream error'));
    stream.on('close', () => this.onStreamClose());
    this.timer = setTimeout(() => {
      if (this.state !== 'running' && this.state !== 'closed') {
        this.log.info('handshake timeout: no connection.open within 10 s, closing');
        this.destroy();
      }
    }, HANDSHAKE_TIMEOUT_MS);
    this.timer.unref();
  }

  /** The broker of the vhost this connection opened (the default one before it did). */
  get broker(): Broker {
    return this.session?.broker ?? this.ctx.broker;
  }

  get limits(): Limits | undefined {
    return this.ctx.limits;
  }

  get user(): string {
    return this.principal?.user ?? '';
  }

  get isOpen(): boolean {
    return this.state === 'running';
  }

  // ---- ClientConnection, for listings ----

  get userProvidedName(): string | null {
    const given = this.clientProperties['connection_name'];
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
    return this.isBlockedNow;
  }

  private onData(chunk: Buffer): void {
    this.lastReadAt = Date.now();
    this.bytesIn += chunk.length;
    if (this.state === 'closed') return;
    try {
      this.decoder.push(chunk);
    } catch (err) {
      // Every handler catches its own errors; this is the last line that keeps the daemon up.
      this.connectionError(toAmqpError(err, 0));
    }
  }

  // ---- AmqpFrameSink ----

  onProtocolHeader(check: AmqpHeaderCheck): void {
    if (!check.ok) {
      this.log.warn({ remote: this.peer.remoteAddress, tried: check.protocol }, `refused a client speaking ${check.protocol}: this port speaks AMQP 0-9-1`);
      this.state = 'closed';
      this.writer.raw(check.reply);
      this.writer.flush();
      this.stream.end();
      if (this.timer !== null) clearTimeout(this.timer);
      this.timer = setTimeout(() => this.stream.destroy(), CLOSE_TIMEOUT_MS);
      this.timer.unref();
      return;
    }
    this.state = 'starting';
    this.writer.method(0, Method.ConnectionStart, {
      versionMajor: 0,
      versionMinor: 9,
      serverProperties: serverProperties(this.ctx.version),
      mechanisms: Buffer.from(MECHANISMS.join(' ')),
      locales: Buffer.from('en_US'),
    });
  }

  onHeartbeat(): void {}

  onError(error: AmqpError): void {
    this.connectionError(error);
  }

  onMethod(channel: number, m: AmqpMethod): void {
    if (this.state === 'closed') return;
    try {
      if (channel === 0) this.connectionMethod(m);
      else this.channelMethod(channel, m);
    } catch (err) {
      this.connectionError(toAmqpError(err, m.id));
    }
  }

  onContent(channel: number, method: ContentMethod, properties: BasicProperties, raw: Buffer, body: Buffer, headroom: number): void {
    if (this.state === 'closing' || this.state === 'closed') return;
    let ch: AmqpChannel | null;
    try {
      ch = this.openChannel(channel, method);
      if (ch === null) return;
      if (method.id !== Method.BasicPublish) throw amqpError('COMMAND_INVALID', 'unimplemented method', method.id);
    } catch (err) {
      this.connectionError(toAmqpError(err, method.id));
      return;
    }
    this.publishes++;
    if (!this.hasPublished) {
      this.hasPublished = true;
      if (this.ctx.broker.blocked) this.setBlocked(true);
    }
    try {
      ch.publish(method, properties, raw, body, headroom);
    } catch (err) {
      this.methodError(ch, toAmqpError(err, method.id));
    }
  }

  // ---- channel 0 ----

  private connectionMethod(m: AmqpMethod): void {
    if (this.state === 'closing') {
      if (m.id === Method.ConnectionCloseOk || m.id === Method.ConnectionClose) {
        if (m.id === Method.ConnectionClose) this.writer.method(0, Method.ConnectionCloseOk, {});
        this.writer.flush();
        this.destroy();
      }
      return;
    }
    if (m.id === Method.ConnectionClose && this.state !== 'running') {
      // A client may give up at any point of the handshake.
      this.writer.method(0, Method.ConnectionCloseOk, {});
      this.writer.flush();
      this.state = 'closed';
      this.stream.end();
      return;
    }
    switch (this.state) {
      case 'starting':
        if (m.id !== Method.ConnectionStartOk) break;
        this.startOk(m.mechanism, m.response, m.clientProperties);
        return;
      case 'tuning':
        if (m.id !== Method.ConnectionTuneOk) break;
        this.tuneOk(m.channelMax, m.frameMax, m.heartbeat);
        return;
      case 'opening':
        if (m.id !== Method.ConnectionOpen) break;
        this.open(m.virtualHost);
        return;
      case 'running':
        switch (m.id) {
          case Method.ConnectionClose:
            this.writer.method(0, Method.ConnectionCloseOk, {});
            this.writer.flush();
            this.log.info({ code: m.replyCode, text: m.replyText }, 'client closed the connection');
            this.state = 'closed';
            this.cleanup();
            this.stream.end();
            return;
          case Method.ConnectionCloseOk:
            return;
          case Method.ConnectionUpdateSecret:
            throw amqpError('NOT_IMPLEMENTED', 'connection.update-secret: Skiff has no expiring credentials', m.id);
          default:
            throw amqpError('COMMAND_INVALID', `unexpected method on channel 0: ${methodLabel(m.id)}`, m.id);
        }
      default:
        break;
    }
    throw amqpError('COMMAND_INVALID', `unexpected method in connection state ${this.state}: ${methodLabel(m.id)}`, m.id);
  }

  private startOk(mechanism: string, response: Buffer, clientProperties: FieldTable): void {
    this.clientProperties = clientProperties;
    const caps = clientProperties['capabilities'];
    const has = (k: string): boolean => caps !== null && typeof caps === 'object' && (caps as FieldTable)[k] === true;
    this.cancelNotify = has('consumer_cancel_notify');
    this.blockedNotify = has('connection.blocked');
    if (!(MECHANISMS as readonly string[]).includes(mechanism)) {
      throw amqpError('COMMAND_INVALID', `unknown authentication mechanism '${mechanism}'`, Method.ConnectionStartOk);
    }
    this.mechanism = mechanism;
    const creds = parseSaslResponse(mechanism, response);
    if (creds === null) {
      throw amqpError('ACCESS_REFUSED', `${mechanism} login refused: the response is malformed`, Method.ConnectionStartOk, 'connection');
    }
    this.state = 'authenticating';
    Promise.resolve(this.ctx.auth.authenticate(creds.username, creds.password, this.peer.remoteAddress)).then(
      (p) => this.authenticated(p, creds.username),
      (err: unknown) => this.connectionError(toAmqpError(err, Method.ConnectionStartOk)),
    );
  }

  private authenticated(principal: Principal | null, username: string): void {
    if (this.state !== 'authenticating') return;
    if (principal === null) {
      this.log.warn({ user: username, remote: this.peer.remoteAddress, mechanism: this.mechanism }, 'authentication failed');
      this.connectionError(
        amqpError(
          'ACCESS_REFUSED',
          `Login was refused using authentication mechanism ${this.mechanism}. For details see the broker logfile.`,
          Method.ConnectionStartOk,
          'connection',
        ),
      );
      return;
    }
    this.principal = principal;
    this.state = 'tuning';
    this.writer.method(0, Method.ConnectionTune, {
      channelMax: this.ctx.channelMax,
      frameMax: this.ctx.frameMax,
      heartbeat: Math.round(this.ctx.heartbeatMs / 1000),
    });
  }

  private tuneOk(channelMax: number, frameMax: number, heartbeat: number): void {
    const id = Method.ConnectionTuneOk;
    const serverFrameMax = this.ctx.frameMax;
    if (frameMax !== 0 && frameMax < FRAME_MIN) throw amqpError('NOT_ALLOWED', `frame_max=${frameMax} < ${FRAME_MIN} min size`, id);
    if (frameMax > serverFrameMax) throw amqpError('NOT_ALLOWED', `frame_max=${frameMax} > ${serverFrameMax} max size`, id);
    if (channelMax > this.ctx.channelMax) throw amqpError('NOT_ALLOWED', `channel_max=${channelMax} > ${this.ctx.channelMax} max`, id);
    this.frameMax = frameMax === 0 ? serverFrameMax : frameMax;
    this.channelMax = channelMax === 0 ? this.ctx.channelMax : channelMax;
    this.heartbeatMs = heartbeat * 1000;
    this.writer.frameMax = this.frameMax;
    this.decoder.frameMax = this.frameMax;
    this.state = 'opening';
  }

  private open(vhost: string): void {
    const principal = this.principal as Principal;
    let entered: ReturnType<typeof enterVhost>;
    try {
      entered = enterVhost(this.ctx, principal.user, vhost);
    } catch (err) {
      this.log.info({ user: principal.user, vhost, err: (err as Error).message }, 'AMQP connection refused: vhost');
      throw toAmqpError(err, Method.ConnectionOpen);
    }
    this.access = entered.access;
    const given = this.clientProperties['connection_name'];
    this.session = entered.broker.openSession({
      id: this.id,
      name: typeof given === 'string' ? given : this.name,
      user: principal.user,
      peer: `${this.peer.remoteAddress}:${this.peer.remotePort}`,
      connectedAt: this.connectedAt,
    });
    this.state = 'running';
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.writer.method(0, Method.ConnectionOpenOk, {});
    this.startHeartbeats();
    this.ctx.registry.add(this);
    this.log.info({ user: principal.user, vhost, remote: this.peer.remoteAddress, name: this.name }, 'AMQP connection opened');
  }

  // ---- channels ----

  /** The open channel a frame is for, or null when it is being closed (the frame is dropped). */
  private openChannel(channel: number, m: AmqpMethod): AmqpChannel | null {
    if (this.state !== 'running') {
      throw amqpError('COMMAND_INVALID', `unexpected method in connection state ${this.state}: ${methodLabel(m.id)}`, m.id);
    }
    const ch = this.channels.get(channel);
    if (ch === undefined) throw amqpError('CHANNEL_ERROR', "expected 'channel.open'", m.id);
    if (ch.closing) {
      if (m.id === Method.ChannelCloseOk || m.id === Method.ChannelClose) this.dropChannel(ch);
      return null;
    }
    return ch;
  }

  private channelMethod(channel: number, m: AmqpMethod): void {
    if (this.state === 'closing') return;
    if (m.id === Method.ChannelOpen) {
      if (this.state !== 'running') {
        throw amqpError('COMMAND_INVALID', `unexpected method in connection state ${this.state}: ${methodLabel(m.id)}`, m.id);
      }
      if (channel > this.channelMax) throw amqpError('NOT_ALLOWED', `channel ${channel} is above the negotiated channel_max (${this.channelMax})`, m.id);
      if (this.channels.has(channel)) throw amqpError('CHANNEL_ERROR', "second 'channel.open' seen", m.id);
      try {
        checkChannelLimit(this.ctx, this.user);
      } catch (err) {
        throw toAmqpError(err, m.id);
      }
      this.channels.set(channel, new AmqpChannel(this, this.session as Session, channel));
      this.writer.method(channel, Method.ChannelOpenOk, {});
      return;
    }
    const ch = this.openChannel(channel, m);
    if (ch === null) return;
    switch (m.id) {
      case Method.ChannelClose:
        this.dropChannel(ch);
        this.writer.method(channel, Method.ChannelCloseOk, {});
        return;
      case Method.ChannelCloseOk:
        return;
      default:
        try {
          ch.handle(m);
        } catch (err) {
          this.methodError(ch, toAmqpError(err, m.id));
        }
    }
  }

  private methodError(ch: AmqpChannel, err: AmqpError): void {
    if (err.isConnectionError) this.connectionError(err);
    else this.closeChannel(ch, err);
  }

  /** Closes one channel with an error; the connection and its other channels carry on. */
  private closeChannel(ch: AmqpChannel, err: AmqpError): void {
    this.log.debug({ channel: ch.id, code: err.replyCode, err: err.message }, 'channel error');
    ch.closing = true;
    this.session?.closeChannel(ch.id);
    this.writer.method(ch.id, Method.ChannelClose, { replyCode: err.replyCode, replyText: err.replyText, classId: err.classId, methodId: err.methodId });
  }

  private dropChannel(ch: AmqpChannel): void {
    this.channels.delete(ch.id);
    this.session?.closeChannel(ch.id);
  }

  /** @internal {@link AmqpChannelHost}: a consumer timeout closes its channel. */
  channelFailed(ch: AmqpChannel, err: ProtocolError): void {
    if (ch.closing || this.state !== 'running') return;
    this.log.info({ channel: ch.id, err: err.message }, 'channel closed by the broker');
    this.closeChannel(ch, toAmqpError(err, 0));
  }

  /** @internal {@link AmqpChannelHost} */
  deliveryFailed(err: unknown): void {
    this.log.warn({ err: err instanceof Error ? err.message : String(err) }, 'a delivery does not fit this connection, closing it');
    this.connectionError(amqpError('INTERNAL_ERROR', `a message could not be delivered: ${err instanceof Error ? err.message : String(err)}`));
  }

  // ---- errors and closing ----

  /** A connection exception: connection.close, then wait (bounded) for close-ok. */
  private connectionError(err: AmqpError): void {
    if (this.state === 'closed' || this.state === 'closing') return;
    if (err.cause !== undefined) this.log.error({ err: err.cause }, 'internal error while handling a frame');
    else this.log.info({ code: err.replyCode, err: err.message }, 'AMQP connection error');
    this.close(err.replyCode, err.replyText, err.classId, err.methodId);
    if (err.fatal) this.stream.end();
  }

  /** Sends connection.close and drops the stream if the peer does not answer. Operators use it too. */
  close(replyCode: number, text: string, classId = 0, methodId = 0): void {
    const code = replyCode;
    if (this.state === 'closed' || this.state === 'closing') return;
    if (this.state === 'header') {
      this.destroy();
      return;
    }
    const wasHandshake = this.state !== 'running';
    this.state = 'closing';
    this.decoder.startClosing();
    this.cleanup();
    this.writer.method(0, Method.ConnectionClose, { replyCode: code, replyText: text, classId, methodId });
    this.writer.flush();
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = setTimeout(() => this.destroy(), CLOSE_TIMEOUT_MS);
    this.timer.unref();
    // Before the handshake completes RabbitMQ closes the socket right after its close.
    if (wasHandshake && code === 403) this.stream.end();
  }

  private cleanup(): void {
    if (this.heartbeatTimer !== null) clearInterval(this.heartbeatTimer);
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
    this.state = 'closed';
    this.cleanup();
    this.stream.destroy();
  }

  private onStreamClose(): void {
    const wasOpen = this.session !== null;
    this.state = 'closed';
    if (this.timer !== null) clearTimeout(this.timer);
    this.cleanup();
    if (wasOpen) this.log.info('AMQP connection closed');
    this.closedResolve();
  }

  // ---- heartbeats and flow control ----

  private startHeartbeats(): void {
    const hb = this.heartbeatMs;
    if (hb === 0) return;
    this.heartbeatTimer = setInterval(() => {
      const now = Date.now();
      // While blocked we are not reading, so the peer's silence proves nothing.
      if (!this.isBlockedNow && now - this.lastReadAt > 2 * hb) {
        this.log.info({ heartbeatMs: hb }, `missed heartbeats from client, timeout: ${hb / 1000}s`);
        this.destroy();
        return;
      }
      if (now - this.writer.lastWriteAt >= hb / 2) this.writer.heartbeat();
    }, Math.max(10, Math.floor(hb / 2)));
    this.heartbeatTimer.unref();
  }

  /** The broker's alarms changed: a publishing connection stops being read while blocked. */
  setBlocked(blocked: boolean): void {
    if (!this.hasPublished || this.isBlockedNow === blocked || this.state !== 'running') return;
    this.isBlockedNow = blocked;
    if (blocked) {
      if (this.blockedNotify) this.writer.method(0, Method.ConnectionBlocked, { reason: blockReason(this.ctx.broker.alarmReasons) });
      this.stream.pause();
    } else {
      if (this.blockedNotify) this.writer.method(0, Method.ConnectionUnblocked, {});
      this.lastReadAt = Date.now();
      this.stream.resume();
    }
  }

}

/** `basic.publish` for a method id. */
function methodLabel(id: number): string {
  return METHOD_LABELS.get(id) ?? `method ${id >>> 16}.${id & 0xffff}`;
}

const METHOD_LABELS: ReadonlyMap<number, string> = new Map(
  Object.entries(Method).map(([k, v]) => [v as number, k.replace(/^(Connection|Channel|Exchange|Queue|Basic|Tx|Confirm)/, (c) => `${c.toLowerCase()}.`).replace(/([a-z])([A-Z])/g, '$1-$2').toLowerCase()]),
);
