import {
  DEFAULT_HEARTBEAT_MS,
  FrameDecoder,
  FrameType,
  FrameWriter,
  MAX_FRAME_MAX,
  Method,
  PROTOCOL_HEADER,
  ProtocolError,
  ReplyCode,
  bytesEqual,
  parseMethod,
  viewOf,
  type Bytes,
  type FrameSink,
  type ParsedMethod,
} from '../../protocol/index.js';
import { ConnectionError, ServerError } from './errors.js';
import type { ConnectOptions } from './options.js';
import type { Transport, TransportTarget } from './transport/transport.js';

/** What a link hands to the connection that owns it. */
export interface LinkOwner {
  /** A method frame on a channel other than 0. */
  channelMethod(channel: number, p: ParsedMethod): void;
  /** A channel-0 method after the handshake: blocked, unblocked, admin replies. */
  connectionMethod(p: ParsedMethod): void;
  /** The link is gone (called once); `cause` is why. */
  linkClosed(link: Link, cause: Error): void;
}

/** What the handshake settled (SPEC §3.1.1). */
export interface Negotiated {
  frameMax: number;
  channelMax: number;
  heartbeatMs: number;
  serverName: string;
  serverProperties: Record<string, unknown>;
}

type Waiter = { resolve: (p: ParsedMethod) => void; reject: (e: Error) => void };

/**
 * One physical connection: a transport, its frame decoder and writer, the handshake,
 * heartbeats and closing (SPEC §3.1). A {@link Connection} outlives its links: when one is lost
 * it makes another and replays its state onto it.
 */
export class Link implements FrameSink {
  readonly writer: FrameWriter;
  readonly target: TransportTarget;
  private readonly transport: Transport;
  private readonly decoder: FrameDecoder;
  private owner: LinkOwner | null = null;
  private handshakeWaiter: Waiter | null = null;
  private closeWaiter: (() => void) | null = null;
  private heartbeatTimer: ReturnType<typeof setInterval> | null = null;
  private lastReadAt = Date.now();
  private sawFirstBytes = false;
  private isClosed = false;
  negotiated: Negotiated | null = null;

  constructor(transport: Transport, target: TransportTarget, writeHighWaterMark: number) {
    this.transport = transport;
    this.target = target;
    this.writer = new FrameWriter(transport, writeHighWaterMark);
    this.decoder = new FrameDecoder(this, MAX_FRAME_MAX);
    transport.start({
      data: (chunk) => this.onData(chunk),
      closed: (err) =>
        this.lost(
          err === null
            ? new ConnectionError('ERR_CONNECTION_LOST', 'connection closed by the server')
            : new ConnectionError('ERR_SOCKET', `connection lost: ${err.message}`, { cause: err }),
        ),
    });
  }

  get isOpen(): boolean {
    return !this.isClosed;
  }

  /** Sends the header and `connection.open`, and resolves with what the server settled. */
  async handshake(username: string, password: string, options: ConnectOptions, vhost = '/'): Promise<Negotiated> {
    const start = await this.expect(() => this.writer.raw(PROTOCOL_HEADER));
    const [, , serverProperties, , frameMax, channelMax] = start.args as [number, number, Record<string, unknown>, string[], number, number];
    const props: Record<string, unknown> = { product: 'skiff-client', platform: this.transport.platform };
    if (options.connectionName !== undefined) props['connectionName'] = options.connectionName;
    const ok = await this.expect(() =>
      this.writer.method(0, Method.ConnectionOpen, [
        username,
        password,
        Math.min(options.frameMax ?? 0, frameMax),
        Math.min(options.channelMax ?? 0, channelMax),
        options.heartbeatMs ?? DEFAULT_HEARTBEAT_MS,
        props,
        options.vhost ?? vhost,
      ]),
    );
    const [fm, cm, hb, name] = ok.args as [number, number, number, string];
    this.decoder.maxFrameBytes = fm;
    this.negotiated = { frameMax: fm, channelMax: cm, heartbeatMs: hb, serverName: name, serverProperties };
    this.transport.setFrameMax?.(fm);
    this.startHeartbeats(hb);
    return this.negotiated;
  }

  private expect(send: () => void): Promise<ParsedMethod> {
    return new Promise<ParsedMethod>((resolve, reject) => {
      this.handshakeWaiter = { resolve, reject };
      send();
    });
  }

  /** Hands frames to `owner` from now on (after the handshake). */
  attach(owner: LinkOwner): void {
    this.owner = owner;
  }

  /** Closes politely (connection.close, then close-ok or 2 s), then ends the transport. */
  async close(): Promise<void> {
    if (this.isClosed) return;
    await new Promise<void>((resolve) => {
      this.closeWaiter = resolve;
      this.writer.method(0, Method.ConnectionClose, [ReplyCode.REPLY_SUCCESS, 'client closed', 0]);
      this.writer.flush();
      const t = setTimeout(resolve, 2000);
      (t as { unref?: () => void }).unref?.();
    });
    this.shutdown();
    this.transport.end();
  }

  /** Drops the link at once (a failed handshake, a give-up). */
  destroy(cause: Error): void {
    this.transport.destroy();
    this.lost(cause);
  }

  // ---- input ----

  private onData(chunk: Uint8Array): void {
    this.lastReadAt = Date.now();
    // In Node.js the codec's bytes are Buffers (the TCP transport's chunks are); a WebSocket hands plain views.
    const buf = viewOf(chunk);
    if (!this.sawFirstBytes) {
      this.sawFirstBytes = true;
      // A server that does not speak our version answers with its own header (SPEC §1).
      if (buf.length >= 5 && bytesEqual(buf.subarray(0, 5), PROTOCOL_HEADER.subarray(0, 5))) {
        const v = buf.length >= 8 ? `${buf[6]}.${buf[7]}` : 'unknown';
        this.fatal(new ConnectionError('ERR_PROTOCOL_VERSION', `server speaks Skiff protocol ${v}, this client speaks 1.0`));
        return;
      }
    }
    try {
      this.decoder.push(buf);
    } catch (err) {
      this.protocolViolation(err as Error);
    }
  }

  /** @internal {@link FrameSink} */
  onFrame(type: number, channel: number, payload: Bytes): void {
    if (type === FrameType.HEARTBEAT || this.isClosed) return;
    let p: ParsedMethod;
    try {
      p = parseMethod(payload, 'server');
    } catch (err) {
      this.protocolViolation(err as Error);
      return;
    }
    if (channel !== 0) {
      this.owner?.channelMethod(channel, p);
      return;
    }
    switch (p.def.id) {
      case Method.ConnectionStart:
      case Method.ConnectionOpenOk: {
        const w = this.handshakeWaiter;
        this.handshakeWaiter = null;
        w?.resolve(p);
        return;
      }
      case Method.ConnectionClose: {
        const [code, text, methodId] = p.args as [number, string, number];
        this.writer.method(0, Method.ConnectionCloseOk, []);
        this.writer.flush();
        this.fatal(new ServerError(code, text, 'connection', methodId));
        return;
      }
      case Method.ConnectionCloseOk:
        this.closeWaiter?.();
        return;
      default:
        this.owner?.connectionMethod(p);
    }
  }

  private protocolViolation(err: Error): void {
    const code = err instanceof ProtocolError ? err.replyCode : ReplyCode.FRAME_ERROR;
    this.writer.method(0, Method.ConnectionClose, [code, `client could not read the server: ${err.message}`, 0]);
    this.writer.flush();
    this.fatal(new ConnectionError('ERR_PROTOCOL', `protocol error from server: ${err.message}`, { cause: err }));
  }

  /** Ends the link with an error: the transport is closed after what is written. */
  private fatal(err: Error): void {
    this.lost(err);
    this.transport.end();
  }

  private lost(cause: Error): void {
    if (this.isClosed) return;
    this.shutdown();
    const hs = this.handshakeWaiter;
    this.handshakeWaiter = null;
    hs?.reject(cause);
    this.closeWaiter?.();
    this.owner?.linkClosed(this, cause);
  }

  private shutdown(): void {
    this.isClosed = true;
    if (this.heartbeatTimer !== null) clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = null;
  }

  private startHeartbeats(hb: number): void {
    if (hb === 0) return;
    this.heartbeatTimer = setInterval(() => {
      const now = Date.now();
      if (now - this.lastReadAt > 2 * hb) {
        this.transport.destroy();
        this.lost(new ConnectionError('ERR_HEARTBEAT_TIMEOUT', `no data from the server for ${2 * hb} ms`));
        return;
      }
      if (now - this.writer.lastWriteAt >= hb / 2) this.writer.heartbeat();
    }, Math.max(10, Math.floor(hb / 2)));
    (this.heartbeatTimer as { unref?: () => void }).unref?.();
  }
}
