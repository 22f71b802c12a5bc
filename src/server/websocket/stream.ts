import type { Socket } from 'node:net';
import { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';
import type { PeerInfo } from '../peer.js';
import { WebSocketFrameSink } from './frame-sink.js';

/** Close codes (RFC 6455 §7.4.1) the endpoint sends. */
export const WsClose = {
  NORMAL: 1000,
  GOING_AWAY: 1001,
  PROTOCOL_ERROR: 1002,
  UNSUPPORTED_DATA: 1003,
  POLICY_VIOLATION: 1008,
  MESSAGE_TOO_BIG: 1009,
} as const;


/**
 * One WebSocket as the byte stream a protocol front end reads and writes, like a TCP socket:
 * binary messages in, in order, as `'data'`; writes out as binary messages, everything one
 * event-loop turn writes (the frame writer corks around it) in one message. A write counts in
 * `writableLength` until the kernel has taken it, so a slow browser's backlog is measured and
 * bounded exactly as a slow TCP peer's is. Reading is paused (the socket stops being read)
 * whenever the consumer of `'data'` pauses, so a blocked publisher's bytes stay in the kernel.
 * Text messages are not part of any subprotocol: one closes the socket with 1003.
 */
export class WebSocketStream extends Duplex {
  readonly ws: WebSocket;
  readonly peer: PeerInfo;
  /** What the front end's frame writer writes to (see {@link writeSideOf}); the stream's own write side stays for the rest. */
  readonly frameSink: WebSocketFrameSink;

  constructor(ws: WebSocket, socket: Socket, peer: PeerInfo, highWaterMark = 64 * 1024) {
    super({ allowHalfOpen: false, writableHighWaterMark: highWaterMark, readableHighWaterMark: highWaterMark, decodeStrings: true });
    this.ws = ws;
    this.peer = peer;
    this.frameSink = new WebSocketFrameSink(ws, socket);
    ws.binaryType = 'nodebuffer';
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (!isBinary) {
        ws.close(WsClose.UNSUPPORTED_DATA, 'binary messages only');
        return;
      }
      if (!this.push(data)) ws.pause();
    });
    ws.on('close', () => {
      this.push(null);
      this.destroy();
    });
    ws.on('error', (err) => this.destroy(err));
  }

  override _read(): void {
    if (this.ws.isPaused) this.ws.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.send(chunk, cb);
  }

  override _writev(chunks: { chunk: Buffer }[], cb: (err?: Error | null) => void): void {
    this.send(chunks.length === 1 ? (chunks[0] as { chunk: Buffer }).chunk : Buffer.concat(chunks.map((c) => c.chunk)), cb);
  }

  private send(data: Buffer, cb: (err?: Error | null) => void): void {
    if (this.ws.readyState !== this.ws.OPEN) {
      cb();
      return;
    }
    // The callback runs once the kernel has the bytes: until then they count in writableLength.
    this.ws.send(data, { binary: true, compress: false }, (err) => cb(err ?? null));
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.ws.close(WsClose.NORMAL);
    cb();
  }

  override _destroy(err: Error | null, cb: (err: Error | null) => void): void {
    if (this.ws.readyState === this.ws.OPEN || this.ws.readyState === this.ws.CONNECTING) {
      if (err === null) this.ws.close(WsClose.NORMAL);
      else this.ws.terminate();
    }
    cb(err);
  }
}
