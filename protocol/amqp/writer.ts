import { BatchWriter, BY_REFERENCE, type WritableLike } from '../codec/batch-writer.js';
import { encodeBasicProperties, encodeMethodArgs, maxBasicPropertiesSize, maxMethodArgsSize } from './methods.generated.js';
import { AMQP_PROTOCOL_HEADER } from './protocol-header.js';
import { FRAME_END, FrameType, Method, type BasicProperties, type MethodArgsMap, type MethodId } from './spec.generated.js';
import { writeShortstr, writeU16, writeU32, writeU64 } from './wire.js';

/** The methods that carry content. */
export type ContentMethodId = typeof Method.BasicPublish | typeof Method.BasicReturn | typeof Method.BasicDeliver | typeof Method.BasicGetOk;

/** Type, channel and size, then the payload, then the end octet. */
const FRAME_OVERHEAD = 8;
/** A content header's class id, weight and body size, before the property flags. */
const HEADER_FIXED = 12;
const BASIC = 60;

const HEARTBEAT: Buffer = Buffer.from([FrameType.HEARTBEAT, 0, 0, 0, 0, 0, 0, FRAME_END]);

/**
 * AMQP 0-9-1 frame encoder for one connection, on the shared {@link BatchWriter}: frames are
 * encoded straight into a reusable batch buffer and written in one corked burst per event-loop
 * tick; bodies of 2 KiB and more are passed by reference. Content is split into body frames at
 * `frameMax`, and no frame larger than `frameMax` is ever written (the receiver's limit binds
 * the sender): a method or content header that would not fit throws RangeError before
 * anything is queued.
 *
 * Properties are given either decoded ({@link BasicProperties}, encoded here) or raw: property
 * flags and properties exactly as a content header carries them, as the decoder hands them out,
 * so a message received over AMQP is delivered without re-encoding its properties.
 */
export class AmqpFrameWriter extends BatchWriter {
  /** The negotiated frame-max: the largest frame written, header and end octet included; 0 = none. */
  frameMax: number;

  constructor(socket: WritableLike, options: { frameMax?: number; highWaterMark?: number } = {}) {
    super(socket, options.highWaterMark);
    this.frameMax = options.frameMax ?? 0;
  }

  /** The largest payload a frame may carry. */
  get maxPayload(): number {
    return this.frameMax === 0 ? 0xffff_ffff : this.frameMax - FRAME_OVERHEAD;
  }

  /** True when raw properties of this size fit one content header frame. */
  propertiesFit(rawPropertiesLength: number): boolean {
    return HEADER_FIXED + rawPropertiesLength <= this.maxPayload;
  }

  /** `AMQP 0 0 9 1`: what a server answers a protocol header it does not speak. */
  protocolHeader(): void {
    this.raw(AMQP_PROTOCOL_HEADER);
  }

  heartbeat(): void {
    this.raw(HEARTBEAT);
  }

  /** A method frame (no content). */
  method<M extends MethodId>(channel: number, id: M, args: MethodArgsMap[M]): void {
    const off = this.reserve(FRAME_OVERHEAD + 4 + maxMethodArgsSize(id, args));
    const b = this.buf;
    writeU32(b, off + 7, id);
    const end = this.closeFrame(b, off, FrameType.METHOD, channel, encodeMethodArgs(id, b, off + 11, args));
    this.end = end;
    this.queued(end - off);
  }

  /** `basic.ack`, without an arguments object (publisher confirms). */
  ack(channel: number, deliveryTag: number, multiple: boolean): void {
    const off = this.reserve(21);
    const b = this.buf;
    writeU32(b, off + 7, Method.BasicAck);
    writeU64(b, off + 11, deliveryTag);
    b[off + 19] = multiple ? 1 : 0;
    this.end = this.closeFrame(b, off, FrameType.METHOD, channel, off + 20);
    this.queued(21);
  }

  /** `basic.nack`, without an arguments object. */
  nack(channel: number, deliveryTag: number, multiple: boolean, requeue: boolean): void {
    const off = this.reserve(21);
    const b = this.buf;
    writeU32(b, off + 7, Method.BasicNack);
    writeU64(b, off + 11, deliveryTag);
    b[off + 19] = (multiple ? 1 : 0) | (requeue ? 2 : 0);
    this.end = this.closeFrame(b, off, FrameType.METHOD, channel, off + 20);
    this.queued(21);
  }

  /** A content method with its header and body frames. */
  content<M extends ContentMethodId>(channel: number, id: M, args: MethodArgsMap[M], properties: BasicProperties | Buffer, body: Buffer): void {
    const raw = Buffer.isBuffer(properties);
    const propsMax = raw ? properties.length : maxBasicPropertiesSize(properties);
    const off = this.reserveContent(4 + maxMethodArgsSize(id, args), propsMax, body.length);
    const b = this.buf;
    writeU32(b, off + 7, id);
    const p = this.closeFrame(b, off, FrameType.METHOD, channel, encodeMethodArgs(id, b, off + 11, args));
    if (raw) this.bodyFrames(channel, off, this.rawHeader(channel, p, properties, 0, properties.length, body.length), body, 0, body.length);
    else this.bodyFrames(channel, off, this.header(channel, p, properties, body.length), body, 0, body.length);
  }

  /**
   * `basic.deliver` with its content, positional (the delivery hot path makes no arguments
   * object). `properties` raw or decoded, as for {@link content}.
   */
  deliver(
    channel: number,
    consumerTag: string,
    deliveryTag: number,
    redelivered: boolean,
    exchange: string,
    routingKey: string,
    properties: BasicProperties | Buffer,
    body: Buffer,
  ): void {
    const raw = Buffer.isBuffer(properties);
    const propsMax = raw ? properties.length : maxBasicPropertiesSize(properties);
    const off = this.beginDeliver(channel, consumerTag, deliveryTag, redelivered, exchange, routingKey, propsMax, body.length);
    const p = this.end;
    this.end = off;
    if (raw) this.bodyFrames(channel, off, this.rawHeader(channel, p, properties, 0, properties.length, body.length), body, 0, body.length);
    else this.bodyFrames(channel, off, this.header(channel, p, properties, body.length), body, 0, body.length);
  }

  /**
   * `basic.deliver` of a message kept as one buffer: raw properties in `content[propsStart,
   * propsEnd)`, the body in `content[bodyStart, end)`. No views are made for small bodies.
   */
  deliverStored(
    channel: number,
    consumerTag: string,
    deliveryTag: number,
    redelivered: boolean,
    exchange: string,
    routingKey: string,
    content: Buffer,
    propsStart: number,
    propsEnd: number,
    bodyStart: number,
  ): void {
    const bodySize = content.length - bodyStart;
    const off = this.beginDeliver(channel, consumerTag, deliveryTag, redelivered, exchange, routingKey, propsEnd - propsStart, bodySize);
    const p = this.end;
    this.end = off;
    this.bodyFrames(channel, off, this.rawHeader(channel, p, content, propsStart, propsEnd, bodySize), content, bodyStart, content.length);
  }

  /** Reserves room for a delivery and encodes its method frame; leaves `this.end` after it. */
  private beginDeliver(
    channel: number,
    consumerTag: string,
    deliveryTag: number,
    redelivered: boolean,
    exchange: string,
    routingKey: string,
    propsMax: number,
    bodySize: number,
  ): number {
    const argsMax = 4 + 12 + 3 * (consumerTag.length + exchange.length + routingKey.length);
    const off = this.reserveContent(argsMax, propsMax, bodySize);
    const b = this.buf;
    writeU32(b, off + 7, Method.BasicDeliver);
    let p = writeShortstr(b, off + 11, consumerTag);
    p = writeU64(b, p, deliveryTag);
    b[p++] = redelivered ? 1 : 0;
    p = writeShortstr(b, p, exchange);
    p = writeShortstr(b, p, routingKey);
    // Stash the method frame's end where the caller finds it; `end` is restored before commit.
    this.end = this.closeFrame(b, off, FrameType.METHOD, channel, p);
    return off;
  }

  /**
   * Room for a method frame with `payloadMax` bytes of payload, a content header with
   * `propsMax` bytes of properties and the first body frame: all of a small body, or just the
   * frame header of one passed by reference.
   */
  private reserveContent(payloadMax: number, propsMax: number, bodySize: number): number {
    const frames = bodySize === 0 ? 0 : Math.ceil(bodySize / this.maxPayload);
    const body = bodySize < BY_REFERENCE ? bodySize + FRAME_OVERHEAD * frames : FRAME_OVERHEAD;
    return this.reserve(FRAME_OVERHEAD + payloadMax + FRAME_OVERHEAD + HEADER_FIXED + propsMax + body);
  }

  /** Fills in a frame's type, channel and size around a payload ending at `p`; returns its end. */
  private closeFrame(b: Buffer, off: number, type: number, channel: number, p: number): number {
    const size = p - off - 7;
    if (size > this.maxPayload) throw new RangeError(`AMQP frame of ${size + FRAME_OVERHEAD} bytes exceeds frame-max ${this.frameMax}`);
    b[off] = type;
    writeU16(b, off + 1, channel);
    writeU32(b, off + 3, size);
    b[p] = FRAME_END;
    return p + 1;
  }

  private header(channel: number, p: number, props: BasicProperties, bodySize: number): number {
    const b = this.buf;
    writeU16(b, p + 7, BASIC);
    writeU16(b, p + 9, 0);
    writeU64(b, p + 11, bodySize);
    return this.closeFrame(b, p, FrameType.HEADER, channel, encodeBasicProperties(b, p + 19, props));
  }

  private rawHeader(channel: number, p: number, src: Buffer, start: number, end: number, bodySize: number): number {
    const b = this.buf;
    writeU16(b, p + 7, BASIC);
    writeU16(b, p + 9, 0);
    writeU64(b, p + 11, bodySize);
    const n = end - start;
    // Property blocks are mostly a few bytes: a loop beats the native copy's fixed cost.
    if (n <= 32) for (let i = 0; i < n; i++) b[p + 19 + i] = src[start + i] as number;
    else src.copy(b, p + 19, start, end);
    return this.closeFrame(b, p, FrameType.HEADER, channel, p + 19 + n);
  }

  /**
   * Writes the body frames after the method and header frames ending at `p`, and commits the
   * whole content: nothing before this can throw, so nothing half-written is ever queued.
   */
  private bodyFrames(channel: number, off: number, p: number, body: Buffer, start: number, end: number): void {
    const b = this.buf;
    const max = this.maxPayload;
    const size = end - start;
    let total = p - off;
    if (size < BY_REFERENCE) {
      for (let at = start; at < end; at += max) {
        const n = Math.min(max, end - at);
        body.copy(b, p + 7, at, at + n);
        p = this.closeFrame(b, p, FrameType.BODY, channel, p + 7 + n);
        total += n + FRAME_OVERHEAD;
      }
      this.end = p;
      this.queued(total);
      return;
    }
    for (let at = start; at < end; at += max) {
      const n = Math.min(max, end - at);
      let q = at === start ? p : this.reserve(FRAME_OVERHEAD);
      const w = this.buf;
      w[q] = FrameType.BODY;
      writeU16(w, q + 1, channel);
      writeU32(w, q + 3, n);
      this.end = q + 7;
      this.byReference(at === start && n === size ? body.subarray(start, end) : body.subarray(at, at + n));
      q = this.reserve(1);
      this.buf[q] = FRAME_END;
      this.end = q + 1;
      total += n + FRAME_OVERHEAD;
    }
    this.queued(total);
  }
}
