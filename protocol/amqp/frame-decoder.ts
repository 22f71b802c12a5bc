import { AmqpError } from './errors.js';
import { decodeBasicProperties, decodeMethodArgs, EMPTY_PROPERTIES } from './methods.generated.js';
import { checkAmqpHeader, PROTOCOL_HEADER_LENGTH, type AmqpHeaderCheck } from './protocol-header.js';
import { FRAME_END, FrameType, METHODS, type AmqpMethod, type BasicProperties, type ContentMethod } from './spec.generated.js';
import { readU16, readU32, readU64Exact } from './wire.js';

/** Receives what an {@link AmqpFrameDecoder} reads. */
export interface AmqpFrameSink {
  /**
   * A method without content, or any method on channel 0 (where nothing is assembled, as in
   * RabbitMQ: the front end refuses what does not belong there).
   */
  onMethod(channel: number, method: AmqpMethod): void;
  /**
   * A content method with its header and whole body. `rawProperties` are the header's property
   * flags and properties exactly as received (forwardable without re-encoding; a shared 2-byte
   * `00 00` when there are none). `body` is a view of the received chunk when the body came in
   * one frame inside one chunk; otherwise it was assembled by one copy into a buffer that has
   * `headroom` free bytes before `body` (see {@link AmqpDecoderOptions.bodyHeadroom}).
   */
  onContent(channel: number, method: ContentMethod, properties: BasicProperties, rawProperties: Buffer, body: Buffer, headroom: number): void;
  /** A heartbeat frame (on channel 0; elsewhere it is an error). */
  onHeartbeat(): void;
  /**
   * Malformed or misplaced input: always a connection exception. After it the decoder reads
   * only channel 0's `connection.close` and `close-ok` (see {@link AmqpFrameDecoder.closing});
   * after a `fatal` one (framing lost) nothing at all.
   */
  onError(error: AmqpError): void;
  /** With `expectProtocolHeader`: the client's first 8 bytes; when not `ok` the decoder stops. */
  onProtocolHeader?(check: AmqpHeaderCheck): void;
}

/** How an {@link AmqpFrameDecoder} reads. */
export interface AmqpDecoderOptions {
  /** Largest frame accepted (the negotiated frame-max; 0 = no limit). Changeable later. */
  frameMax: number;
  /** Largest content body accepted (default 128 MiB, RabbitMQ 3.13's max_message_size). */
  maxBodySize?: number;
  /** Read the 8-byte protocol header first (a server). */
  expectProtocolHeader?: boolean;
  /**
   * Free bytes to leave before a body the decoder assembles, so the receiver can write its own
   * prefix (a stored message's property block) in front of it without copying the body again.
   */
  bodyHeadroom?: (rawProperties: Buffer, properties: BasicProperties) => number;
}

const FRAME_HEADER = 7;
/** RabbitMQ lets payloads run 8 bytes over frame-max: clients get the frame overhead wrong. */
const FRAME_SIZE_FUDGE = 8;
/** Frame header and end octet. */
const FRAME_OVERHEAD = 8;
const DEFAULT_MAX_BODY = 128 * 1024 * 1024;

const CONTENT_METHODS: ReadonlySet<number> = new Set(METHODS.filter((m) => m.content).map((m) => m.id));
const METHOD_NAMES: ReadonlyMap<number, string> = new Map(METHODS.map((m) => [m.id, m.name]));
const CONNECTION_CLOSE = 0x000a0032;
const CONNECTION_CLOSE_OK = 0x000a0033;

/** Property flags 0: the raw properties of every message that has none. */
const NO_RAW_PROPERTIES: Buffer = Buffer.alloc(2);
const EMPTY_BODY: Buffer = Buffer.alloc(0);

const Phase = {
  PROTOCOL_HEADER: 0,
  FRAME: 1,
  /** Buffering a whole frame (payload and end octet) that straddles chunks. */
  PARTIAL: 2,
  /** Copying a body frame's payload straight into its content's body buffer. */
  BODY: 3,
  /** Waiting for the end octet of a body frame copied that way. */
  BODY_END: 4,
  DEAD: 5,
} as const;
type Phase = (typeof Phase)[keyof typeof Phase];

const AWAIT_METHOD = 0;
const AWAIT_HEADER = 1;
const AWAIT_BODY = 2;

/** Content assembly on one channel (spec §4.2.6), reused for every message on it. */
class Assembly {
  state: 0 | 1 | 2 = AWAIT_METHOD;
  method: ContentMethod | null = null;
  classId = 0;
  bodySize = 0;
  received = 0;
  properties: BasicProperties = EMPTY_PROPERTIES;
  raw: Buffer = NO_RAW_PROPERTIES;
  /** The body being assembled, after `headroom` free bytes; allocated at the first fragment. */
  buffer: Buffer | null = null;
  headroom = 0;
}

/**
 * Incremental AMQP 0-9-1 decoder: a push state machine. It frames the byte stream, checks each
 * frame's size against frame-max from its header before buffering anything, decodes methods,
 * and assembles content (method, header, body frames) per channel, reporting misplaced frames
 * with RabbitMQ's reply codes and texts.
 *
 * Bodies are copied at most once: a body frame inside one chunk that holds the whole body is
 * handed out as a view; otherwise its payload goes straight from the chunks into one buffer of
 * the body's size (never through a frame buffer first). Other frames that straddle chunks are
 * copied into a buffer of their own size, allocated after the size was checked.
 */
export class AmqpFrameDecoder {
  /** Largest frame payload accepted (the negotiated frame-max; 0 = no limit). */
  frameMax: number;
  readonly maxBodySize: number;
  private readonly sink: AmqpFrameSink;
  private readonly headroomOf: AmqpDecoderOptions['bodyHeadroom'];
  private phase: Phase;
  private isClosing = false;
  /** The protocol header or a frame header split across chunks. */
  private readonly stash = Buffer.alloc(PROTOCOL_HEADER_LENGTH);
  private stashHave = 0;
  private partial: Buffer | null = null;
  private partialHave = 0;
  private partialType = 0;
  private partialChannel = 0;
  /** The body frame being copied (Phase.BODY): its assembly, channel, and bytes still to come. */
  private streaming: Assembly | null = null;
  private streamChannel = 0;
  private streamLeft = 0;
  private readonly assemblies = new Map<number, Assembly>();
  private lastChannel = -1;
  private lastAssembly: Assembly | null = null;
  private pending = 0;

  constructor(sink: AmqpFrameSink, options: AmqpDecoderOptions) {
    this.sink = sink;
    this.frameMax = options.frameMax;
    this.maxBodySize = options.maxBodySize ?? DEFAULT_MAX_BODY;
    this.headroomOf = options.bodyHeadroom;
    this.phase = options.expectProtocolHeader === true ? Phase.PROTOCOL_HEADER : Phase.FRAME;
  }

  /** True after a connection error: only channel 0's `connection.close`/`close-ok` get through. */
  get closing(): boolean {
    return this.isClosing;
  }

  /** True once the stream cannot be read further (a fatal error, or a refused header). */
  get failed(): boolean {
    return this.phase === Phase.DEAD;
  }

  /** True while part of a frame is held. */
  get midFrame(): boolean {
    return this.stashHave > 0 || this.phase === Phase.PARTIAL || this.phase === Phase.BODY || this.phase === Phase.BODY_END;
  }

  /** Bytes allocated for bodies being assembled, on all channels (for memory accounting). */
  get pendingBodyBytes(): number {
    return this.pending;
  }

  /**
   * Enters the closing state without an error of the decoder's own: for a connection error the
   * front end raised. Content in assembly is dropped.
   */
  startClosing(): void {
    if (this.isClosing) return;
    this.isClosing = true;
    for (const a of this.assemblies.values()) this.reset(a);
  }

  /** Feeds bytes from the socket. Never throws for bad input: errors go to `sink.onError`. */
  push(chunk: Buffer): void {
    const len = chunk.length;
    let off = 0;
    while (off < len) {
      switch (this.phase) {
        case Phase.FRAME:
          off = this.stashHave > 0 ? this.resumeHeader(chunk, off) : this.frames(chunk, off);
          break;
        case Phase.PARTIAL:
          off = this.resumePartial(chunk, off);
          break;
        case Phase.BODY:
          off = this.resumeBody(chunk, off);
          break;
        case Phase.BODY_END:
          off = this.bodyEnd(chunk, off);
          break;
        case Phase.PROTOCOL_HEADER:
          off = this.protocolHeader(chunk, off);
          break;
        default:
          return;
      }
    }
  }

  /** Whole frames in place, until one straddles the end of the chunk. */
  private frames(chunk: Buffer, off: number): number {
    const len = chunk.length;
    while (off < len) {
      if (this.phase !== Phase.FRAME) return off;
      const remaining = len - off;
      if (remaining < FRAME_HEADER) {
        chunk.copy(this.stash, 0, off, len);
        this.stashHave = remaining;
        return len;
      }
      const type = chunk[off] as number;
      const channel = readU16(chunk, off + 1);
      const size = readU32(chunk, off + 3);
      if (!this.sizeOk(type, size)) return len;
      const start = off + FRAME_HEADER;
      const total = FRAME_HEADER + size + 1;
      const asm = type === FrameType.BODY ? this.expectingBody(channel, size) : null;
      if (remaining < total) {
        if (asm !== null) return this.startBody(asm, channel, size, chunk, start);
        this.startPartial(type, channel, size, chunk, start);
        return len;
      }
      if (chunk[start + size] !== FRAME_END) return this.badEnd(type, chunk, start, start + size);
      if (asm !== null) this.bodyFragment(asm, channel, chunk, start, size);
      else this.frame(type, channel, chunk, start, start + size);
      off += total;
    }
    return off;
  }

  private resumeHeader(chunk: Buffer, off: number): number {
    const take = Math.min(FRAME_HEADER - this.stashHave, chunk.length - off);
    chunk.copy(this.stash, this.stashHave, off, off + take);
    this.stashHave += take;
    off += take;
    if (this.stashHave < FRAME_HEADER) return off;
    this.stashHave = 0;
    const s = this.stash;
    const type = s[0] as number;
    const channel = readU16(s, 1);
    const size = readU32(s, 3);
    if (!this.sizeOk(type, size)) return chunk.length;
    const asm = type === FrameType.BODY ? this.expectingBody(channel, size) : null;
    if (asm !== null) return this.startBody(asm, channel, size, chunk, off);
    this.startPartial(type, channel, size, chunk, off);
    return Math.min(chunk.length, off + size + 1);
  }

  private startPartial(type: number, channel: number, size: number, chunk: Buffer, from: number): void {
    const frame = Buffer.allocUnsafe(size + 1);
    const take = Math.min(size + 1, chunk.length - from);
    chunk.copy(frame, 0, from, from + take);
    this.partial = frame;
    this.partialHave = take;
    this.partialType = type;
    this.partialChannel = channel;
    this.phase = Phase.PARTIAL;
    if (take === frame.length) this.finishPartial();
  }

  private resumePartial(chunk: Buffer, off: number): number {
    const frame = this.partial as Buffer;
    const take = Math.min(frame.length - this.partialHave, chunk.length - off);
    chunk.copy(frame, this.partialHave, off, off + take);
    this.partialHave += take;
    if (this.partialHave === frame.length) this.finishPartial();
    return off + take;
  }

  private finishPartial(): void {
    const frame = this.partial as Buffer;
    this.partial = null;
    this.phase = Phase.FRAME;
    const size = frame.length - 1;
    if (frame[size] !== FRAME_END) {
      this.badEnd(this.partialType, frame, 0, size);
      return;
    }
    this.frame(this.partialType, this.partialChannel, frame, 0, size);
  }

  private startBody(asm: Assembly, channel: number, size: number, chunk: Buffer, from: number): number {
    this.streaming = asm;
    this.streamChannel = channel;
    this.streamLeft = size;
    this.phase = Phase.BODY;
    this.allocateBody(asm);
    return this.resumeBody(chunk, from);
  }

  private resumeBody(chunk: Buffer, off: number): number {
    const asm = this.streaming as Assembly;
    const take = Math.min(this.streamLeft, chunk.length - off);
    // No buffer: the content was dropped by startClosing mid-frame; the rest is skipped.
    if (asm.buffer !== null) {
      chunk.copy(asm.buffer, asm.headroom + asm.received, off, off + take);
      asm.received += take;
    }
    this.streamLeft -= take;
    if (this.streamLeft === 0) this.phase = Phase.BODY_END;
    return off + take;
  }

  private bodyEnd(chunk: Buffer, off: number): number {
    const asm = this.streaming as Assembly;
    this.streaming = null;
    this.phase = Phase.FRAME;
    if (chunk[off] !== FRAME_END) {
      const buf = asm.buffer ?? EMPTY_BODY;
      return this.badEnd(FrameType.BODY, buf, asm.headroom, asm.buffer === null ? 0 : asm.headroom + asm.received, chunk[off]);
    }
    if (asm.buffer !== null && asm.received === asm.bodySize) this.complete(asm, this.streamChannel, asm.buffer.subarray(asm.headroom), asm.headroom);
    return off + 1;
  }

  private protocolHeader(chunk: Buffer, off: number): number {
    const take = Math.min(PROTOCOL_HEADER_LENGTH - this.stashHave, chunk.length - off);
    chunk.copy(this.stash, this.stashHave, off, off + take);
    this.stashHave += take;
    if (this.stashHave < PROTOCOL_HEADER_LENGTH) return off + take;
    this.stashHave = 0;
    const check = checkAmqpHeader(this.stash);
    this.phase = check.ok ? Phase.FRAME : Phase.DEAD;
    this.sink.onProtocolHeader?.(check);
    return check.ok ? off + take : chunk.length;
  }

  // -------------------------------------------------------------------------------------------
  // Frames

  private sizeOk(type: number, size: number): boolean {
    const max = this.frameMax;
    // RabbitMQ's test: payload > frame-max − 8 (the frame overhead) + 8 (the fudge).
    if (max === 0 || size <= max - FRAME_OVERHEAD + FRAME_SIZE_FUDGE) return true;
    this.fatal(`type ${type}, all octets = <<>>: {frame_too_large,${size},${max - 8}}`);
    return false;
  }

  private badEnd(type: number, buf: Buffer, start: number, end: number, marker = buf[end]): number {
    this.fatal(`type ${type}, ${snippet(buf, start, end)}: {invalid_frame_end_marker,${marker}}`);
    return Number.MAX_SAFE_INTEGER;
  }

  private fatal(text: string): void {
    this.phase = Phase.DEAD;
    this.isClosing = true;
    this.dropAssemblies();
    this.sink.onError(new AmqpError('FRAME_ERROR', text, { fatal: true }));
  }

  /** A connection error that leaves framing intact: report it and start closing. */
  private error(code: 'FRAME_ERROR' | 'UNEXPECTED_FRAME' | 'NOT_IMPLEMENTED', text: string, methodId = 0): void {
    this.startClosing();
    this.sink.onError(new AmqpError(code, text, { classId: methodId >>> 16, methodId: methodId & 0xffff }));
  }

  private frame(type: number, channel: number, buf: Buffer, start: number, end: number): void {
    switch (type) {
      case FrameType.METHOD:
        this.method(channel, buf, start, end);
        return;
      case FrameType.HEADER:
        this.header(channel, buf, start, end);
        return;
      case FrameType.BODY:
        // A valid body frame never gets here (see expectingBody): this one is misplaced.
        if (!this.isClosing) this.misplaced(channel, type, buf, start, end);
        return;
      case FrameType.HEARTBEAT:
        if (this.isClosing) return;
        if (end !== start) this.error('FRAME_ERROR', `type ${type}, ${snippet(buf, start, end)}: unknown_frame`);
        else if (channel !== 0) this.error('UNEXPECTED_FRAME', `type ${type}, ${snippet(buf, start, end)}`);
        else this.sink.onHeartbeat();
        return;
      default:
        if (!this.isClosing) this.error('FRAME_ERROR', `type ${type}, ${snippet(buf, start, end)}: unknown_frame`);
    }
  }

  private method(channel: number, buf: Buffer, start: number, end: number): void {
    if (end - start < 4) {
      if (!this.isClosing) this.error('FRAME_ERROR', `type 1, ${snippet(buf, start, end)}: unknown_frame`);
      return;
    }
    const id = readU32(buf, start);
    if (this.isClosing && (channel !== 0 || (id !== CONNECTION_CLOSE && id !== CONNECTION_CLOSE_OK))) return;
    // As RabbitMQ's assembler: a method where content frames belong is refused before its
    // arguments are read.
    const asm = channel === 0 ? null : this.assembly(channel);
    if (asm !== null && asm.state !== AWAIT_METHOD) {
      this.misplaced(channel, FrameType.METHOD, buf, start, end);
      return;
    }
    let m: AmqpMethod | null;
    try {
      m = decodeMethodArgs(id, buf, start + 4, end);
    } catch (err) {
      if (!(err instanceof AmqpError)) throw err;
      if (!this.isClosing) this.error('FRAME_ERROR', `cannot decode ${METHOD_NAMES.get(id) as string}: ${err.message}`, id);
      return;
    }
    if (m === null) {
      this.error('NOT_IMPLEMENTED', `unknown method: class ${id >>> 16}, method ${id & 0xffff}`, id);
      return;
    }
    if (asm === null) {
      this.sink.onMethod(0, m);
      return;
    }
    if (CONTENT_METHODS.has(id)) {
      asm.state = AWAIT_HEADER;
      asm.method = m as ContentMethod;
      asm.classId = id >>> 16;
      return;
    }
    this.sink.onMethod(channel, m);
  }

  private header(channel: number, buf: Buffer, start: number, end: number): void {
    if (this.isClosing) return;
    if (end - start < 12 || channel === 0) {
      if (end - start < 12) this.error('FRAME_ERROR', `type 2, ${snippet(buf, start, end)}: unknown_frame`);
      else this.error('UNEXPECTED_FRAME', `type 2, ${snippet(buf, start, end)}`);
      return;
    }
    const asm = this.assembly(channel);
    const classId = readU16(buf, start);
    if (asm.state !== AWAIT_HEADER || readU16(buf, start + 2) !== 0 || classId !== asm.classId) {
      this.misplaced(channel, FrameType.HEADER, buf, start, end);
      return;
    }
    const method = asm.method as ContentMethod;
    const size = readU64Exact(buf, start + 4);
    if (typeof size !== 'number' || size > this.maxBodySize) {
      this.error('FRAME_ERROR', `content body size ${size} exceeds maximum allowed size ${this.maxBodySize}`, method.id);
      return;
    }
    let props: BasicProperties;
    try {
      props = decodeBasicProperties(buf, start + 12, end);
    } catch (err) {
      if (!(err instanceof AmqpError)) throw err;
      this.error('FRAME_ERROR', `cannot decode the content header's properties: ${err.message}`, method.id);
      return;
    }
    const raw = props === EMPTY_PROPERTIES ? NO_RAW_PROPERTIES : buf.subarray(start + 12, end);
    if (size === 0) {
      this.reset(asm);
      this.sink.onContent(channel, method, props, raw, EMPTY_BODY, 0);
      return;
    }
    asm.state = AWAIT_BODY;
    asm.bodySize = size;
    asm.received = 0;
    asm.properties = props;
    asm.raw = raw;
  }

  /** The assembly a body frame of `size` bytes on `channel` belongs to, if it is a valid one. */
  private expectingBody(channel: number, size: number): Assembly | null {
    if (this.isClosing || channel === 0) return null;
    const asm = channel === this.lastChannel ? this.lastAssembly : this.assemblies.get(channel);
    return asm !== undefined && asm !== null && asm.state === AWAIT_BODY && size <= asm.bodySize - asm.received ? asm : null;
  }

  private bodyFragment(asm: Assembly, channel: number, buf: Buffer, start: number, size: number): void {
    if (asm.received === 0 && size === asm.bodySize) {
      this.complete(asm, channel, buf.subarray(start, start + size), 0);
      return;
    }
    if (size === 0) return;
    this.allocateBody(asm);
    const body = asm.buffer as Buffer;
    buf.copy(body, asm.headroom + asm.received, start, start + size);
    asm.received += size;
    if (asm.received === asm.bodySize) this.complete(asm, channel, body.subarray(asm.headroom), asm.headroom);
  }

  private allocateBody(asm: Assembly): void {
    if (asm.buffer !== null) return;
    const headroom = this.headroomOf === undefined ? 0 : this.headroomOf(asm.raw, asm.properties);
    asm.headroom = headroom;
    asm.buffer = Buffer.allocUnsafe(headroom + asm.bodySize);
    this.pending += headroom + asm.bodySize;
  }

  private complete(asm: Assembly, channel: number, body: Buffer, headroom: number): void {
    const method = asm.method as ContentMethod;
    const props = asm.properties;
    const raw = asm.raw;
    this.reset(asm);
    this.sink.onContent(channel, method, props, raw, body, headroom);
  }

  private reset(asm: Assembly): void {
    if (asm.buffer !== null) this.pending -= asm.buffer.length;
    asm.state = AWAIT_METHOD;
    asm.method = null;
    asm.buffer = null;
    asm.headroom = 0;
    asm.received = 0;
    asm.bodySize = 0;
    asm.properties = EMPTY_PROPERTIES;
    asm.raw = NO_RAW_PROPERTIES;
  }

  private dropAssemblies(): void {
    for (const a of this.assemblies.values()) this.reset(a);
    this.streaming = null;
    this.partial = null;
  }

  /** A frame that does not fit the channel's assembly state: RabbitMQ's words for each case. */
  private misplaced(channel: number, type: number, buf: Buffer, start: number, end: number): void {
    if (channel === 0) {
      this.error('UNEXPECTED_FRAME', `type ${type}, ${snippet(buf, start, end)}`);
      return;
    }
    const asm = this.assembly(channel);
    const id = asm.method?.id ?? 0;
    switch (asm.state) {
      case AWAIT_METHOD:
        this.error('UNEXPECTED_FRAME', 'expected method frame, got non method frame instead');
        return;
      case AWAIT_HEADER:
        if (type === FrameType.HEADER && readU16(buf, start + 2) === 0) {
          this.error('UNEXPECTED_FRAME', `expected content header for class ${asm.classId}, got one for class ${readU16(buf, start)} instead`, id);
        } else {
          this.error('UNEXPECTED_FRAME', `expected content header for class ${asm.classId}, got non content header frame instead`, id);
        }
        return;
      default:
        if (type === FrameType.BODY) this.error('FRAME_ERROR', 'content body frame exceeds remaining content size', id);
        else this.error('UNEXPECTED_FRAME', 'expected content body, got non content body frame instead', id);
    }
  }

  private assembly(channel: number): Assembly {
    if (channel === this.lastChannel) return this.lastAssembly as Assembly;
    let a = this.assemblies.get(channel);
    if (a === undefined) {
      a = new Assembly();
      this.assemblies.set(channel, a);
    }
    this.lastChannel = channel;
    this.lastAssembly = a;
    return a;
  }
}

/**
 * RabbitMQ's description of a frame payload in its frame errors: `all octets = <<…>>` for up to
 * 16 bytes, else `first 16 octets = <<…>>`, in Erlang's notation.
 */
function snippet(buf: Buffer, start: number, end: number): string {
  const n = end - start;
  return `${n <= 16 ? 'all' : 'first 16'} octets = ${erlangBinary(buf.subarray(start, start + Math.min(n, 16)))}`;
}

/** A binary as Erlang prints it: `<<"text">>` when printable, else `<<1,2,3>>`. */
export function erlangBinary(b: Buffer): string {
  if (b.length === 0) return '<<>>';
  let printable = true;
  for (const c of b) if (c < 0x20 || c > 0x7e) printable = false;
  if (printable) return `<<"${b.toString('latin1').replace(/["\\]/g, (c) => `\\${c}`)}">>`;
  return `<<${Array.from(b).join(',')}>>`;
}
