import { randomBytes } from 'node:crypto';
import { ProtocolError, ReplyCode } from '../../protocol/index.js';

const NAME = /^[A-Za-z0-9_.:-]*$/;

/** Checks an exchange or queue name (SPEC §3): at most 255 bytes of letters, digits, `-_.:`. */
export function checkName(kind: 'exchange' | 'queue', name: string): void {
  if (Buffer.byteLength(name) > 255) {
    throw new ProtocolError(ReplyCode.PRECONDITION_FAILED, `${kind} name is longer than 255 bytes`);
  }
  if (!NAME.test(name)) {
    throw new ProtocolError(
      ReplyCode.PRECONDITION_FAILED,
      `${kind} name '${name}' may contain only letters, digits, '-', '_', '.' and ':'`,
    );
  }
}

/** Consumer tags share the names' 255-byte limit (SPEC §3), any characters allowed. */
export function checkConsumerTag(tag: string): void {
  if (Buffer.byteLength(tag) > 255) throw new ProtocolError(ReplyCode.PRECONDITION_FAILED, 'consumer tag is longer than 255 bytes');
}

export function isReserved(name: string): boolean {
  return name.startsWith('amq.');
}

export function generatedQueueName(): string {
  return `sk.gen-${randomBytes(16).toString('base64url')}`;
}
