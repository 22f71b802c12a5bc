import type { Socket } from 'node:net';
import type { WebSocket } from 'ws';
import type { WritableLike } from '../../../protocol/index.js';

/** FIN + opcode 2 (binary): every message the endpoint sends is one unfragmented binary frame. */
const FIN_BINARY = 0x82;
/** At or below this, header and payload are copied into one buffer and go out in one `write`. */
const COPY_MAX = 4 * 1024;

/**
 * The write side of a WebSocket for a protocol front end's frame writer: what the writer flushes
 * in one turn becomes one binary message, framed here (RFC 6455 §5.2; a server never masks) and
 * written straight to the upgraded socket. Going through `ws.send` instead costs a stream write on
 * the {@link WebSocketStream}, `ws`'s sender, and a two-buffer `writev` per message; with one
 * message per connection per tick for every one of 5,000 subscribers that was a third of the
 * broker's time outside the kernel. Safe beside `ws`'s own writes (pings, pongs, the close frame)
 * because both sides write whole frames synchronously and `ws` compresses nothing here.
 *
 * Backpressure is the socket's own: `writableLength` is what the kernel has not taken yet.
 */
export class WebSocketFrameSink implements WritableLike {
  private corks = 0;
  private parts: Uint8Array[] = [];
  private partsBytes = 0;

  constructor(
    private readonly ws: WebSocket,
    private readonly socket: Socket,
  ) {}

  get writableLength(): number {
    return this.socket.writableLength;
  }

  /** Also true once the WebSocket is closing: nothing may follow a close frame. */
  get destroyed(): boolean {
    return this.socket.destroyed || this.ws.readyState !== this.ws.OPEN;
  }

  cork(): void {
    this.corks++;
  }

  uncork(): void {
    if (this.corks === 0 || --this.corks > 0 || this.parts.length === 0) return;
    const parts = this.parts;
    const total = this.partsBytes;
    this.parts = [];
    this.partsBytes = 0;
    this.send(parts, total);
  }

  write(chunk: Uint8Array): boolean {
    if (this.corks > 0) {
      this.parts.push(chunk);
      this.partsBytes += chunk.length;
      return true;
    }
    return this.send([chunk], chunk.length);
  }

  once(event: 'drain', listener: () => void): this {
    this.socket.once(event, listener);
    return this;
  }

  private send(parts: readonly Uint8Array[], total: number): boolean {
    if (this.destroyed) return false;
    const headerSize = total < 126 ? 2 : total < 65536 ? 4 : 10;
    if (total <= COPY_MAX) {
      const out = Buffer.allocUnsafe(headerSize + total);
      let at = writeHeader(out, total);
      for (const p of parts) {
        out.set(p, at);
        at += p.length;
      }
      return this.socket.write(out);
    }
    const header = Buffer.allocUnsafe(headerSize);
    writeHeader(header, total);
    const socket = this.socket;
    socket.cork();
    socket.write(header);
    let ok = true;
    for (const p of parts) ok = socket.write(p);
    socket.uncork();
    return ok;
  }
}

/** Writes the frame header for a `length`-byte binary message at the start of `b`; returns its size. */
function writeHeader(b: Buffer, length: number): number {
  b[0] = FIN_BINARY;
  if (length < 126) {
    b[1] = length;
    return 2;
  }
  if (length < 65536) {
    b[1] = 126;
    b.writeUInt16BE(length, 2);
    return 4;
  }
  b[1] = 127;
  b.writeUInt32BE(Math.floor(length / 2 ** 32), 2);
  b.writeUInt32BE(length >>> 0, 6);
  return 10;
}
