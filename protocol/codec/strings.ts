import { latin1Read, utf8Length, utf8Read, utf8Write } from './bytes.js';

/**
 * Short strings on the wire, shared by both codecs: names, routing keys and consumer tags are
 * short, mostly ASCII, and repeat on nearly every frame, so char loops beat the native calls
 * and a small cache saves decoding the same name again.
 */

/** UTF-8 length of a short string: a char loop beats the native call; non-ASCII falls back. */
export function shortByteLength(s: string): number {
  const n = s.length;
  for (let i = 0; i < n; i++) if (s.charCodeAt(i) > 0x7f) return utf8Length(s);
  return n;
}

/** Short strings: a char loop beats the native call's fixed cost; falls back for non-ASCII. */
export function writeShortString(buf: Uint8Array, off: number, s: string): number {
  const n = s.length;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c > 0x7f) return utf8Write(buf, off, s);
    buf[off + i] = c;
  }
  return n;
}

/**
 * Strings seen recently, by a hash of their bytes. Exchange names, routing keys and consumer
 * tags repeat on nearly every frame; a hit costs two short byte loops instead of a native
 * decode and a new string. Only ASCII strings are kept (callers pass short ones: msgpack
 * fixstr, AMQP shortstr up to 64 bytes), and a slot holds one string, so a peer sending endless
 * new names only churns a fixed table.
 */
const STRING_SLOTS = 4096;
const stringCache: (string | undefined)[] = new Array<string | undefined>(STRING_SLOTS).fill(undefined);

/** `l` bytes at `off` as UTF-8, from the cache when they are ASCII and were seen recently. */
export function readShortString(buf: Uint8Array, off: number, l: number): string {
  if (l === 0) return '';
  let h = l;
  for (let i = 0; i < l; i++) {
    const c = buf[off + i] as number;
    if (c > 0x7f) return utf8Read(buf, off, off + l);
    h = (Math.imul(h, 31) + c) | 0;
  }
  const slot = (h ^ (h >>> 12)) & (STRING_SLOTS - 1);
  const hit = stringCache[slot];
  if (hit !== undefined && hit.length === l) {
    let i = 0;
    while (i < l && hit.charCodeAt(i) === buf[off + i]) i++;
    if (i === l) return hit;
  }
  const s = latin1Read(buf, off, off + l); // ASCII: latin1 and UTF-8 agree
  stringCache[slot] = s;
  return s;
}
