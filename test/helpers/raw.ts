import { connect as netConnect } from 'node:net';
import type { Duplex } from 'node:stream';
import {
  FrameDecoder,
  FrameType,
  HEARTBEAT_FRAME,
  MAX_FRAME_MAX,
  Method,
  PROTOCOL_HEADER,
  methodName,
  parseMethod,
} from '../../protocol/index.js';
import { methodFrame } from './frames.js';
import { Collector, within } from './wait.js';

/** A method frame the raw client received, decoded. */
export interface RawMethod {
  channel: number;
  id: number;
  name: string;
  args: unknown[];
  content: Buffer | null;
}

/**
 * A bare peer for bad-input tests: it sends whatever bytes the test builds and records what
 * the server sends back, frame by frame, with no client library in between. Over TCP
 * ({@link connect}) or any byte stream ({@link over}: a WebSocket's, from `ws`).
 */
export class RawClient {
  readonly socket: Duplex;
  /** Every byte received, in order. */
  readonly received: Buffer[] = [];
  readonly methods = new Collector<RawMethod>();
  heartbeats = 0;
  /** Answer every server heartbeat with one, to stay alive without a client library. */
  answerHeartbeats = false;
  /** Resolves when the socket has closed (either side). */
  readonly ended: Promise<void>;
  private cursor = 0;
  private isEnded = false;
  private readonly decoder: FrameDecoder;

  private constructor(socket: Duplex) {
    this.socket = socket;
    this.decoder = new FrameDecoder(
      {
        onFrame: (type, channel, payload) => {
          if (type === FrameType.HEARTBEAT) {
            this.heartbeats++;
            if (this.answerHeartbeats) this.send(HEARTBEAT_FRAME);
            return;
          }
          const p = parseMethod(payload);
          this.methods.push({ channel, id: p.def.id, name: p.def.name, args: p.args, content: p.content && Buffer.from(p.content) });
        },
      },
      MAX_FRAME_MAX,
    );
    socket.on('data', (chunk: Buffer) => {
      this.received.push(chunk);
      try {
        this.decoder.push(chunk);
      } catch {
        // Not frames (the server's protocol header after garbage): `received` has the bytes.
      }
    });
    socket.on('error', () => undefined);
    this.ended = new Promise((resolve) =>
      socket.on('close', () => {
        this.isEnded = true;
        resolve();
      }),
    );
  }

  /** A raw client on a connected stream. */
  static over(stream: Duplex): RawClient {
    return new RawClient(stream);
  }

  /** `allowHalfOpen` keeps our side open after the server ends its side (a rude peer). */
  static connect(port: number, options: { allowHalfOpen?: boolean } = {}): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const s = netConnect({ host: '127.0.0.1', port, noDelay: true, allowHalfOpen: options.allowHalfOpen ?? false });
      s.once('connect', () => resolve(new RawClient(s)));
      s.once('error', reject);
    });
  }

  send(...chunks: Buffer[]): void {
    for (const c of chunks) this.socket.write(c);
  }

  sendMethod(channel: number, id: number, args: readonly unknown[]): void {
    this.send(methodFrame(channel, id, args));
  }

  /** Header, start, open; resolves with open-ok's arguments (the values in force). */
  async handshake(options: { heartbeatMs?: number; frameMax?: number } = {}): Promise<unknown[]> {
    this.send(PROTOCOL_HEADER);
    await this.expect(Method.ConnectionStart);
    this.sendMethod(0, Method.ConnectionOpen, ['guest', 'guest', options.frameMax ?? 0, 0, options.heartbeatMs ?? 0, {}]);
    return (await this.expect(Method.ConnectionOpenOk)).args;
  }

  async openChannel(channel: number): Promise<void> {
    this.sendMethod(channel, Method.ChannelOpen, []);
    await this.expect(Method.ChannelOpenOk, channel);
  }

  /** The next method the server sent that the test has not looked at yet. */
  async next(ms?: number): Promise<RawMethod> {
    const want = this.cursor + 1;
    const arrived = this.methods.take(want, ms);
    const ended = this.ended.then(async () => {
      // Frames that arrived with the close are still read.
      if (this.methods.length < want) throw new Error(`socket closed; received only ${this.describeAll()}`);
      return this.methods.items;
    });
    const items = await Promise.race([arrived, ended]);
    return items[this.cursor++] as RawMethod;
  }

  /** Reads the next method and checks its id (and channel, when given). */
  async expect(id: number, channel?: number): Promise<RawMethod> {
    const m = await this.next();
    if (m.id !== id || (channel !== undefined && m.channel !== channel)) {
      throw new Error(`expected ${methodName(id)}${channel === undefined ? '' : ` on channel ${channel}`}, got ${describe(m)}`);
    }
    return m;
  }

  /**
   * Expects the server's connection.close, answers close-ok, and waits for the socket to close.
   * Returns the close arguments.
   */
  async expectConnectionClose(): Promise<{ code: number; text: string; methodId: number }> {
    const m = await this.expect(Method.ConnectionClose, 0);
    if (!this.isEnded) this.sendMethod(0, Method.ConnectionCloseOk, []);
    await within(this.ended, 'the server to close the socket');
    const [code, text, methodId] = m.args as [number, string, number];
    return { code, text, methodId };
  }

  /** Expects channel.close on `channel`, answers close-ok, returns the close arguments. */
  async expectChannelClose(channel: number): Promise<{ code: number; text: string; methodId: number }> {
    const m = await this.expect(Method.ChannelClose, channel);
    this.sendMethod(channel, Method.ChannelCloseOk, []);
    const [code, text, methodId] = m.args as [number, string, number];
    return { code, text, methodId };
  }

  destroy(): void {
    this.socket.destroy();
  }

  private describeAll(): string {
    return `[${this.methods.items.map(describe).join(', ')}]`;
  }
}

function describe(m: RawMethod): string {
  return `${m.name} on channel ${m.channel} ${JSON.stringify(m.args)}`;
}
