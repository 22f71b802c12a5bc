/** Frame layout and limits (SPEC.md §1, §2). */
import { alloc, bytesOf, type Bytes } from './bytes.js';

export const PROTOCOL_MAJOR = 1;
export const PROTOCOL_MINOR = 0;
/** `SKIFF\0` + major + minor (SPEC §1). */
export const PROTOCOL_HEADER: Bytes = bytesOf([0x53, 0x4b, 0x49, 0x46, 0x46, 0x00, PROTOCOL_MAJOR, PROTOCOL_MINOR]);
export const HEADER_MAGIC_LENGTH = 6;
export const HEADER_LENGTH = 8;

export const FrameType = {
  METHOD: 1,
  HEARTBEAT: 8,
} as const;
export type FrameType = (typeof FrameType)[keyof typeof FrameType];

/** size (4) + type (1) + channel (2). */
export const FRAME_HEADER_SIZE = 7;
/** Bytes of a method payload before its arguments: the method id. */
export const METHOD_ID_SIZE = 2;

export const DEFAULT_FRAME_MAX = 1024 * 1024;
/** Smallest frameMax a peer may ask for: room for any non-content method. */
export const MIN_FRAME_MAX = 4096;
export const MAX_FRAME_MAX = 64 * 1024 * 1024;
export const DEFAULT_CHANNEL_MAX = 2047;
export const DEFAULT_HEARTBEAT_MS = 60_000;

/** Result of checking the first 8 bytes a client sent. */
export type HeaderCheck = { ok: true } | { ok: false; reason: string };

export function checkProtocolHeader(header: Uint8Array): HeaderCheck {
  if (header.length < PROTOCOL_HEADER.length) return { ok: false, reason: 'short protocol header' };
  for (let i = 0; i < HEADER_MAGIC_LENGTH; i++) {
    if (header[i] !== PROTOCOL_HEADER[i]) return { ok: false, reason: 'not a Skiff protocol header' };
  }
  if (header[6] !== PROTOCOL_MAJOR) {
    return { ok: false, reason: `unsupported protocol version ${header[6]}.${header[7]}` };
  }
  return { ok: true };
}

/** A heartbeat frame is always the same 7 bytes. */
export const HEARTBEAT_FRAME: Bytes = (() => {
  const b = alloc(FRAME_HEADER_SIZE);
  b[3] = 3; // size: type + channel
  b[4] = FrameType.HEARTBEAT;
  return b;
})();
