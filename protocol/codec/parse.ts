import { ProtocolError, ReplyCode } from './codes.js';
import { methodDef, methodName, namedArgs, validateArgs, type ArgsOf, type MethodDef, type TableMethodId } from './methods.js';
import { unpackArgs } from './msgpack.js';
import { alloc, readU32, type Bytes } from './bytes.js';

/** A decoded METHOD frame payload. */
export interface ParsedMethod {
  def: MethodDef;
  args: unknown[];
  /**
   * Content methods only: the message as it travels, `[u32 propsSize][props][body]`, a view of
   * the frame. The broker stores and forwards these bytes as they are.
   */
  content: Bytes | null;
  /** Size of the property map inside `content` (0 when there are none). */
  propsSize: number;
}

/**
 * Decodes and validates a METHOD payload (SPEC §3). Throws {@link ProtocolError}:
 * COMMAND_INVALID for an unknown method id or one `sentBy` may not send (SPEC §3.1, checked
 * before the arguments, so a wrong-direction method is reported as such whatever it carries),
 * SYNTAX_ERROR for malformed arguments or content.
 */
export function parseMethod(payload: Bytes, sentBy?: 'client' | 'server'): ParsedMethod {
  return parseMethodAt(payload, 0, payload.length, sentBy);
}

/** {@link parseMethod} of the payload `buf[start, end)` (see `FrameSink.onFrameAt`). */
export function parseMethodAt(buf: Bytes, start: number, end: number, sentBy?: 'client' | 'server'): ParsedMethod {
  const length = end - start;
  if (length < 2) throw new ProtocolError(ReplyCode.FRAME_ERROR, 'method frame is too short for a method id');
  const id = ((buf[start] as number) << 8) | (buf[start + 1] as number);
  const def = methodDef(id);
  if (def === undefined) throw new ProtocolError(ReplyCode.COMMAND_INVALID, `unknown method ${methodName(id)}`, { methodId: id });
  if (sentBy !== undefined && def.from !== 'both' && def.from !== sentBy) {
    throw new ProtocolError(ReplyCode.COMMAND_INVALID, `${def.name} is not sent by ${sentBy}s`, { methodId: id });
  }
  try {
    if (!def.content) return { def, args: validateArgs(def, unpackArgs(buf, start + 2, end)), content: null, propsSize: 0 };
    if (length < 6) throw new ProtocolError(ReplyCode.SYNTAX_ERROR, `${def.name}: content frame is truncated`);
    const argsEnd = 6 + readU32(buf, start + 2);
    if (argsEnd + 4 > length) throw new ProtocolError(ReplyCode.SYNTAX_ERROR, `${def.name}: content frame is truncated`);
    const args = validateArgs(def, unpackArgs(buf, start + 6, start + argsEnd));
    const propsSize = readU32(buf, start + argsEnd);
    if (argsEnd + 4 + propsSize > length) {
      throw new ProtocolError(ReplyCode.SYNTAX_ERROR, `${def.name}: property map runs past the end of the frame`);
    }
    return { def, args, content: buf.subarray(start + argsEnd, end) as Bytes, propsSize };
  } catch (err) {
    if (err instanceof ProtocolError) err.methodId = id;
    throw err;
  }
}

/** Splits a content tail (see {@link ParsedMethod.content}) into properties and body views. */
export function splitContent(content: Bytes): { props: Bytes; body: Bytes } {
  const propsSize = readU32(content, 0);
  // Most messages carry no properties: share one empty view rather than make one per message.
  return { props: propsSize === 0 ? NO_PROPS : (content.subarray(4, 4 + propsSize) as Bytes), body: content.subarray(4 + propsSize) as Bytes };
}

const NO_PROPS: Bytes = alloc(0);

/**
 * The named, typed arguments of a parsed method, `args.queue` rather than `args[0]`: the types
 * come from the method table that validated them. `id` must be the method's own.
 */
export function argsOf<Id extends TableMethodId>(p: ParsedMethod, id: Id): ArgsOf<Id> {
  if (p.def.id !== id) throw new Error(`argsOf: ${p.def.name} is not ${methodName(id)}`);
  return namedArgs(p.def, p.args) as ArgsOf<Id>;
}
