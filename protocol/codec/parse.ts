import { ProtocolError, ReplyCode } from './codes.js';
import { methodDef, methodName, validateArgs, type MethodDef } from './methods.js';
import { unpackArgs } from './msgpack.js';

/** A decoded METHOD frame payload. */
export interface ParsedMethod {
  def: MethodDef;
  args: unknown[];
  /**
   * Content methods only: the message as it travels, `[u32 propsSize][props][body]`, a view of
   * the frame. The broker stores and forwards these bytes as they are.
   */
  content: Buffer | null;
  /** Size of the property map inside `content` (0 when there are none). */
  propsSize: number;
}

/**
 * Decodes and validates a METHOD payload (SPEC §3). Throws {@link ProtocolError}:
 * COMMAND_INVALID for an unknown method id or one `sentBy` may not send (SPEC §3.1, checked
 * before the arguments, so a wrong-direction method is reported as such whatever it carries),
 * SYNTAX_ERROR for malformed arguments or content.
 */
export function parseMethod(payload: Buffer, sentBy?: 'client' | 'server'): ParsedMethod {
  if (payload.length < 2) throw new ProtocolError(ReplyCode.FRAME_ERROR, 'method frame is too short for a method id');
  const id = payload.readUInt16BE(0);
  const def = methodDef(id);
  if (def === undefined) throw new ProtocolError(ReplyCode.COMMAND_INVALID, `unknown method ${methodName(id)}`, { methodId: id });
  if (sentBy !== undefined && def.from !== 'both' && def.from !== sentBy) {
    throw new ProtocolError(ReplyCode.COMMAND_INVALID, `${def.name} is not sent by ${sentBy}s`, { methodId: id });
  }
  try {
    if (!def.content) return { def, args: validateArgs(def, unpackArgs(payload, 2, payload.length)), content: null, propsSize: 0 };
    if (payload.length < 6) throw new ProtocolError(ReplyCode.SYNTAX_ERROR, `${def.name}: content frame is truncated`);
    const argsEnd = 6 + payload.readUInt32BE(2);
    if (argsEnd + 4 > payload.length) throw new ProtocolError(ReplyCode.SYNTAX_ERROR, `${def.name}: content frame is truncated`);
    const args = validateArgs(def, unpackArgs(payload, 6, argsEnd));
    const propsSize = payload.readUInt32BE(argsEnd);
    if (argsEnd + 4 + propsSize > payload.length) {
      throw new ProtocolError(ReplyCode.SYNTAX_ERROR, `${def.name}: property map runs past the end of the frame`);
    }
    return { def, args, content: payload.subarray(argsEnd), propsSize };
  } catch (err) {
    if (err instanceof ProtocolError) err.methodId = id;
    throw err;
  }
}

/** Splits a content tail (see {@link ParsedMethod.content}) into properties and body views. */
export function splitContent(content: Buffer): { props: Buffer; body: Buffer } {
  const propsSize = content.readUInt32BE(0);
  return { props: content.subarray(4, 4 + propsSize), body: content.subarray(4 + propsSize) };
}
