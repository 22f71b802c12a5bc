import { AMQP_PROPERTIES_TAG, storedBodyStart, storedNativeProperties } from '../../protocol/amqp/content.js';

/**
 * The broker keeps a message in one of two stored forms (`protocol/amqp/content.ts`): the native
 * wire form `[u32 n][msgpack properties][body]`, or, for a message published over AMQP,
 * `[u32 1+n][0xC1][AMQP property bytes][body]`, so each front end forwards its own protocol's
 * messages untouched and maps only the other one's.
 */

/** True when the content holds AMQP properties (the 0xC1 tag, which msgpack never uses). */
export function isAmqpContent(content: Buffer): boolean {
  return content[4] === AMQP_PROPERTIES_TAG && content.length > 4 && content.readUInt32BE(0) !== 0;
}

/**
 * The content in the native wire form, for native consumers: itself when it is already (the
 * hot path: one byte compared), else a copy with the AMQP properties mapped (SPEC §3.3).
 */
export function nativeContent(content: Buffer): Buffer {
  if (content[4] !== AMQP_PROPERTIES_TAG || !isAmqpContent(content)) return content;
  const props = storedNativeProperties(content);
  const bodyStart = storedBodyStart(content);
  const out = Buffer.allocUnsafe(4 + props.length + content.length - bodyStart);
  out.writeUInt32BE(props.length, 0);
  props.copy(out, 4);
  content.copy(out, 4 + props.length, bodyStart);
  return out;
}
