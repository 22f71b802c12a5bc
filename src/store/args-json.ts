/**
 * Queue, exchange and binding arguments are stored whole as JSON, readable with any SQLite
 * shell. Arguments arrive as msgpack, which has binary values JSON lacks: those are stored as
 * `{"$bytes": "<base64>"}` and come back as Buffers, so every argument is restored as given.
 * Keys are sorted, so equal arguments always have the same text (bindings are keyed by it).
 */
const BYTES = '$bytes';

/** Canonical JSON text of an arguments table. */
export function encodeArgs(args: Record<string, unknown>): string {
  return JSON.stringify(toJson(args));
}

/** The arguments table stored by {@link encodeArgs}, binary values as Buffers. */
export function decodeArgs(text: string): Record<string, unknown> {
  return fromJson(JSON.parse(text)) as Record<string, unknown>;
}

function toJson(v: unknown): unknown {
  if (v instanceof Uint8Array) return { [BYTES]: Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64') };
  if (Array.isArray(v)) return v.map(toJson);
  if (v !== null && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) out[k] = toJson((v as Record<string, unknown>)[k]);
    return out;
  }
  return v;
}

function fromJson(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(fromJson);
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    const keys = Object.keys(o);
    if (keys.length === 1 && keys[0] === BYTES && typeof o[BYTES] === 'string') return Buffer.from(o[BYTES], 'base64');
    const out: Record<string, unknown> = {};
    for (const k of keys) out[k] = fromJson(o[k]);
    return out;
  }
  return v;
}
