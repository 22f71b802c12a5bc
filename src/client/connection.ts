import { EventEmitter } from 'node:events';
import { connect as netConnect, type Socket } from 'node:net';
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
  parseMethod,
  type FrameSink,
  type ParsedMethod,
} from '../../protocol/index.js';
import { Channel } from './channel.js';
import { ClosedError, ConnectionError, ServerError } from './errors.js';

export const DEFAULT_URL = 'skiff://guest:guest@127.0.0.1:5680';

export interface ConnectOptions {
  /** Heartbeat interval to ask for, ms; 0 disables. Default 60 000 (the lower of ours and the server's wins). */
  heartbeatMs?: number;
  /** Largest frame to ask for; 0 = the server's. */
  frameMax?: number;
  channelMax?: number;
  /** Shown in the server's connection list. */
  connectionName?: string;
  /** Give up connecting after this long. Default 10 000 ms. */
  timeoutMs?: number;
  /** Outgoing bytes buffered before `publish` makes the caller wait. Default 1 MiB. */
  writeHighWaterMark?: number;
}

interface ParsedUrl {
  host: string;
  port: number;
  username: string;
  password: string;
}

export function parseUrl(url: string): ParsedUrl {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new ConnectionError('ERR_INVALID_URL', `invalid URL '${url}'`);
  }
  if (u.protocol !== 'skiff:') throw new ConnectionError('ERR_INVALID_URL', `URL must start with skiff:// (got '${u.protocol}')`);
  return {
    host: u.hostname.replace(/^\[|\]$/g, '') || '127.0.0.1',
    port: u.port === '' ? 5680 : Number(u.port),
    username: u.username === '' ? 'guest' : decodeURIComponent(u.username),
    password: u.password === '' ? (u.username === '' ? 'guest' : '') : decodeURIComponent(u.password),
  };
}

/** Connects to a Skiff daemon and completes the handshake (SPEC §3.1.1). */
export async function connect(url: string = DEFAULT_URL, options: ConnectOptions = {}): Promise<Connection> {
  const target = parseUrl(url);
  const socket = await new Promise<Socket>((resolve, reject) => {
    const s = netConnect({ host: target.host, port: target.port, noDelay: true });
    const timer = setTimeout(() => {
      s.destroy();
      reject(new ConnectionError('ERR_TIMEOUT', `timed out connecting to ${target.host}:${target.port}`));
    }, options.timeoutMs ?? 10_000);
    s.once('connect', () => {
      clearTimeout(timer);
      s.removeAllListeners('error');
      resolve(s);
    });
    s.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      const msg =
        err.code === 'ECONNREFUSED'
          ? `connection refused by ${target.host}:${target.port} (is skiff running?)`
          : `cannot connect to ${target.host}:${target.port}: ${err.message}`;
      reject(new ConnectionError(err.code === 'ECONNREFUSED' ? 'ERR_CONNECTION_REFUSED' : 'ERR_CONNECT', msg, { cause: err }));
    });
  });
  const conn = new Connection(socket, options);
  await conn.handshake(target.username, target.password);
  return conn;
}

type Pending = { resolve: (p: ParsedMethod) => void; reject: (e: Error) => void };
type Pending0 = { resolve: () => void; reject: (e: Error) => void };

/**
 * A connection to the daemon. Channels do the work; the connection carries them, answers
 * heartbeats, and reports `blocked` / `unblocked` / `close` events. Errors never throw out of
 * an event: a lost connection rejects pending calls and resolves `closed` with the cause.
 */
export class Connection extends EventEmitter {
  /** @internal */ readonly writer: FrameWriter;
  private readonly socket: Socket;
  private readonly decoder: FrameDecoder;
  private readonly options: ConnectOptions;
  private readonly channels = new Map<number, Channel>();
  private nextChannel = 1;
  private handshakeWaiter: Pending | null = null;
  private closeWaiter: (() => void) | null = null;
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private lastReadAt = Date.now();
  private sawFirstBytes = false;
  private writeWaiters: Pending0[] = [];
  frameMax = 0;
  channelMax = 0;
  heartbeatMs = 0;
  serverName = '';
  serverProperties: Record<string, unknown> = {};
  /** True while the broker asks publishers to wait (SPEC §3.1.4). */
  blocked = false;
  private closeCause: Error | null = null;
  private isClosed = false;
  private resolveClosed!: (cause: Error | null) => void;
  /** Resolves when the connection is closed: with null after `close()`, else with the cause. */
  readonly closed: Promise<Error | null> = new Promise((r) => (this.resolveClosed = r));

  /** @internal use {@link connect} */
  constructor(socket: Socket, options: ConnectOptions) {
    super();
    this.socket = socket;
    this.options = options;
    this.writer = new FrameWriter(socket, options.writeHighWaterMark ?? 1024 * 1024);
    this.writer.onDrain = () => this.wakeWriters();
    this.decoder = new FrameDecoder(this as FrameSink, MAX_FRAME_MAX);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err) => this.lost(new ConnectionError('ERR_SOCKET', `connection lost: ${err.message}`, { cause: err })));
    socket.on('close', () => this.lost(new ConnectionError('ERR_CONNECTION_LOST', 'connection closed by the server')));
  }

  /** @internal */
  handshake(username: string, password: string): Promise<void> {
    return new Promise<ParsedMethod>((resolve, reject) => {
      this.handshakeWaiter = { resolve, reject };
      this.writer.raw(PROTOCOL_HEADER);
    }).then((start) => {
      const [, , serverProps, , frameMax, channelMax, heartbeatMs] = start.args as [number, number, Record<string, unknown>, string[], number, number, number];
      this.serverProperties = serverProps;
      const asked = this.options.heartbeatMs ?? DEFAULT_HEARTBEAT_MS;
      return new Promise<ParsedMethod>((resolve, reject) => {
        this.handshakeWaiter = { resolve, reject };
        const props: Record<string, unknown> = { product: 'skiff-client', platform: `Node.js ${process.version}` };
        if (this.options.connectionName !== undefined) props['connectionName'] = this.options.connectionName;
        this.writer.method(0, Method.ConnectionOpen, [
          username,
          password,
          Math.min(this.options.frameMax ?? 0, frameMax),
          Math.min(this.options.channelMax ?? 0, channelMax),
          asked,
          props,
        ]);
      }).then((ok) => {
        const [fm, cm, hb, name] = ok.args as [number, number, number, string];
        this.frameMax = fm;
        this.channelMax = cm;
        this.heartbeatMs = hb;
        this.serverName = name;
        this.decoder.maxFrameBytes = fm;
        this.handshakeWaiter = null;
        this.startHeartbeats();
        void heartbeatMs;
      });
    });
  }

  /** Opens a channel. */
  async channel(): Promise<Channel> {
    this.assertOpen();
    const id = this.allocateChannelId();
    const ch = new Channel(this, id);
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

  /** Closes the connection politely; pending calls reject with {@link ClosedError}. */
  async close(): Promise<void> {
    if (this.isClosed) return;
    await new Promise<void>((resolve) => {
      this.closeWaiter = resolve;
      this.writer.method(0, Method.ConnectionClose, [ReplyCode.REPLY_SUCCESS, 'client closed', 0]);
      this.writer.flush();
      const t = setTimeout(resolve, 2000);
      t.unref();
    });
    this.finish(null, new ClosedError('connection closed by the client'));
    this.socket.end();
  }

  get isOpen(): boolean {
    return !this.isClosed;
  }

  /** @internal */
  assertOpen(): void {
    if (this.isClosed) throw new ClosedError('connection is closed', this.closeCause ?? undefined);
  }

  /**
   * @internal Resolves when the caller may write more: the socket is under its high-water mark
   * and the broker has not blocked publishing.
   */
  writable(): Promise<void> | null {
    if (this.writer.writable && !this.blocked) return null;
    return new Promise((resolve, reject) => this.writeWaiters.push({ resolve, reject }));
  }

  private wakeWriters(): void {
    if (!this.writer.writable || this.blocked) return;
    const ws = this.writeWaiters;
    this.writeWaiters = [];
    for (const w of ws) w.resolve();
  }

  // ---- input ----

  private onData(chunk: Buffer): void {
    this.lastReadAt = Date.now();
    if (!this.sawFirstBytes) {
      this.sawFirstBytes = true;
      // A server that does not speak our version answers with its own header (SPEC §1).
      if (chunk.length >= 5 && chunk.subarray(0, 5).equals(PROTOCOL_HEADER.subarray(0, 5))) {
        const v = chunk.length >= 8 ? `${chunk[6]}.${chunk[7]}` : 'unknown';
        this.fatal(new ConnectionError('ERR_PROTOCOL_VERSION', `server speaks Skiff protocol ${v}, this client speaks 1.0`));
        return;
      }
    }
    try {
      this.decoder.push(chunk);
    } catch (err) {
      this.protocolViolation(err as Error);
    }
  }

  /** @internal {@link FrameSink} */
  onFrame(type: number, channel: number, payload: Buffer): void {
    if (type === FrameType.HEARTBEAT) return;
    let p: ParsedMethod;
    try {
      p = parseMethod(payload, 'server');
    } catch (err) {
      this.protocolViolation(err as Error);
      return;
    }
    if (channel === 0) {
      this.onConnectionMethod(p);
      return;
    }
    const ch = this.channels.get(channel);
    if (ch !== undefined) ch.onMethod(p);
  }

  private onConnectionMethod(p: ParsedMethod): void {
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
        const err = new ServerError(code, text, 'connection', methodId);
        this.fatal(err);
        return;
      }
      case Method.ConnectionCloseOk:
        this.closeWaiter?.();
        return;
      case Method.ConnectionBlocked:
        this.blocked = true;
        this.emit('blocked', p.args[0] as string);
        return;
      case Method.ConnectionUnblocked:
        this.blocked = false;
        this.emit('unblocked');
        this.wakeWriters();
        return;
      default:
        this.adminReply(p);
    }
  }

  /**
   * @internal A consumer or return callback threw. The connection is fine, so the error goes to
   * the application: the connection's 'error' listeners if it has any, else it is thrown as
   * uncaught, like an exception in any other Node.js callback.
   */
  applicationError(err: unknown): void {
    if (this.listenerCount('error') > 0) this.emit('error', err);
    else
      process.nextTick(() => {
        throw err;
      });
  }

  /** @internal Replies to channel-0 requests (admin methods) in order. */
  private readonly channel0Waiters: Pending[] = [];

  /** @internal Sends a request on channel 0 and resolves with its reply. */
  request0(methodId: number, args: unknown[]): Promise<ParsedMethod> {
    this.assertOpen();
    return new Promise((resolve, reject) => {
      this.channel0Waiters.push({ resolve, reject });
      this.writer.method(0, methodId, args as never);
    });
  }

  private adminReply(p: ParsedMethod): void {
    const w = this.channel0Waiters.shift();
    w?.resolve(p);
  }

  private protocolViolation(err: Error): void {
    const code = err instanceof ProtocolError ? err.code : ReplyCode.FRAME_ERROR;
    this.writer.method(0, Method.ConnectionClose, [code, `client could not read the server: ${err.message}`, 0]);
    this.writer.flush();
    this.fatal(new ConnectionError('ERR_PROTOCOL', `protocol error from server: ${err.message}`, { cause: err }));
  }

  /** Ends the connection with an error: everything pending rejects with it. */
  private fatal(err: Error): void {
    this.finish(err, err);
    this.socket.end();
    setTimeout(() => this.socket.destroy(), 1000).unref();
  }

  private lost(err: Error): void {
    this.finish(err, err);
  }

  private finish(cause: Error | null, rejectWith: Error): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.closeCause = cause;
    if (this.heartbeatTimer !== null) clearInterval(this.heartbeatTimer);
    const hs = this.handshakeWaiter;
    this.handshakeWaiter = null;
    hs?.reject(rejectWith);
    for (const w of this.channel0Waiters.splice(0)) w.reject(rejectWith);
    for (const ch of [...this.channels.values()]) ch.connectionClosed(rejectWith);
    this.channels.clear();
    this.rejectWriters(rejectWith);
    this.resolveClosed(cause);
    this.emit('close', cause);
  }

  /** A publish waiting for room learns that its message may not have left (no silent hang). */
  private rejectWriters(err: Error): void {
    const ws = this.writeWaiters;
    this.writeWaiters = [];
    const closed = err instanceof ClosedError ? err : new ClosedError('connection is closed', err);
    for (const w of ws) w.reject(closed);
  }

  private startHeartbeats(): void {
    const hb = this.heartbeatMs;
    if (hb === 0) return;
    this.heartbeatTimer = setInterval(() => {
      const now = Date.now();
      if (now - this.lastReadAt > 2 * hb) {
        this.fatal(new ConnectionError('ERR_HEARTBEAT_TIMEOUT', `no data from the server for ${2 * hb} ms`));
        this.socket.destroy();
        return;
      }
      if (now - this.writer.lastWriteAt >= hb / 2) this.writer.heartbeat();
    }, Math.max(10, Math.floor(hb / 2)));
    this.heartbeatTimer.unref();
  }
}
