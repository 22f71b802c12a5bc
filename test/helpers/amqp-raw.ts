import { connect as netConnect, type Socket } from 'node:net';
import { AmqpFrameDecoder } from '../../protocol/amqp/frame-decoder.js';
import { AMQP_PROTOCOL_HEADER } from '../../protocol/amqp/protocol-header.js';
import { Method, type AmqpMethod, type MethodArgsMap, type MethodId } from '../../protocol/amqp/spec.generated.js';
import { AmqpFrameWriter } from '../../protocol/amqp/writer.js';
import { recorder, type Event } from './amqp.js';
import { within } from './wait.js';

/**
 * A bare AMQP client over a real socket, for input no stock client sends: frames are written
 * verbatim or encoded with the codec, and what the server sends back is decoded and recorded.
 */
export class RawAmqp {
  readonly socket: Socket;
  readonly writer: AmqpFrameWriter;
  readonly events: Event[];
  /** Every byte received, in order. */
  readonly bytes: Buffer[] = [];
  readonly closed: Promise<void>;
  private read = 0;
  private wake: (() => void) | null = null;

  private constructor(socket: Socket) {
    this.socket = socket;
    this.writer = new AmqpFrameWriter(socket);
    const r = recorder();
    this.events = r.events;
    const decoder = new AmqpFrameDecoder(r.sink, { frameMax: 0 });
    let headerSeen = false;
    socket.on('data', (chunk: Buffer) => {
      this.bytes.push(chunk);
      // A server that refuses our header answers with one of its own instead of frames.
      if (!headerSeen && chunk.subarray(0, 4).toString('latin1') === 'AMQP') chunk = chunk.subarray(8);
      headerSeen = true;
      decoder.push(chunk);
      this.wake?.();
    });
    socket.on('error', () => undefined);
    this.closed = new Promise((resolve) => socket.on('close', () => {
      this.wake?.();
      resolve();
    }));
  }

  static connect(port: number): Promise<RawAmqp> {
    return new Promise((resolve, reject) => {
      const s = netConnect({ port, host: '127.0.0.1' }, () => resolve(new RawAmqp(s)));
      s.once('error', reject);
    });
  }

  /** Connects and completes the handshake as guest; `tune` overrides what connection.tune-ok says. */
  static async open(port: number, tune: { frameMax?: number; channelMax?: number; heartbeat?: number } = {}): Promise<RawAmqp> {
    const c = await RawAmqp.connect(port);
    c.send(AMQP_PROTOCOL_HEADER);
    const start = await c.nextMethod(Method.ConnectionStart);
    void start;
    c.method(0, Method.ConnectionStartOk, { clientProperties: { capabilities: { consumer_cancel_notify: true, 'connection.blocked': true } }, mechanism: 'PLAIN', response: Buffer.from('\0guest\0guest'), locale: 'en_US' });
    const t = await c.nextMethod(Method.ConnectionTune);
    c.method(0, Method.ConnectionTuneOk, { channelMax: tune.channelMax ?? t.channelMax, frameMax: tune.frameMax ?? t.frameMax, heartbeat: tune.heartbeat ?? 0 });
    c.writer.frameMax = tune.frameMax ?? t.frameMax;
    c.method(0, Method.ConnectionOpen, { virtualHost: '/' });
    await c.nextMethod(Method.ConnectionOpenOk);
    return c;
  }

  send(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  method<M extends MethodId>(channel: number, id: M, args: MethodArgsMap[M]): void {
    this.writer.method(channel, id, args);
    this.writer.flush();
  }

  /** Opens a channel and waits for open-ok. */
  async channel(n: number): Promise<void> {
    this.method(n, Method.ChannelOpen, {});
    await this.nextMethod(Method.ChannelOpenOk, n);
  }

  /** The next event not yet taken (waits for it; null once the socket closed). */
  async next(): Promise<Event | null> {
    return within(
      (async () => {
        for (;;) {
          const e = this.events[this.read];
          if (e !== undefined) {
            this.read++;
            return e;
          }
          if (this.socket.destroyed || this.socket.readableEnded) return null;
          await new Promise<void>((r) => (this.wake = r));
        }
      })(),
      'the next frame from the server',
    );
  }

  /** Skips events until the method `id` (on `channel`) arrives, and returns its arguments. */
  async nextMethod<M extends MethodId>(id: M, channel?: number): Promise<MethodArgsMap[M] & { id: M }> {
    for (;;) {
      const e = await this.next();
      if (e === null) throw new Error(`the server closed the socket before sending method ${id.toString(16)}`);
      if (e.kind === 'method' && e.method.id === id && (channel === undefined || e.channel === channel)) return e.method as AmqpMethod as MethodArgsMap[M] & { id: M };
    }
  }

  /** The connection.close the server sent (answered with close-ok), as `[code, text, classId, methodId]`. */
  async connectionClose(): Promise<[number, string, number, number]> {
    const m = await this.nextMethod(Method.ConnectionClose, 0);
    this.method(0, Method.ConnectionCloseOk, {});
    return [m.replyCode, m.replyText, m.classId, m.methodId];
  }

  /** The channel.close the server sent on `channel` (answered with close-ok). */
  async channelClose(channel: number): Promise<[number, string, number, number]> {
    const m = await this.nextMethod(Method.ChannelClose, channel);
    this.method(channel, Method.ChannelCloseOk, {});
    return [m.replyCode, m.replyText, m.classId, m.methodId];
  }

  destroy(): void {
    this.socket.destroy();
  }
}
