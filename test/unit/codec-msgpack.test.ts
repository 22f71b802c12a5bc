import { describe, expect, it } from 'vitest';
import { ArgsEncoder, ProtocolError, packValue, unpackArgs, unpackProperties, unpackValue, type ArgValue } from '../../protocol/index.js';

function encode(values: readonly ArgValue[]): Buffer {
  const enc = new ArgsEncoder();
  const size = enc.measure(values);
  const buf = Buffer.alloc(size + 4, 0xee);
  const end = enc.write(buf, 2);
  expect(end - 2, 'measure() must predict write() exactly').toBe(size);
  expect(buf[0]).toBe(0xee);
  expect(buf[end]).toBe(0xee);
  return buf.subarray(2, end);
}

/** Encodes with ArgsEncoder, then decodes with our reader and with msgpackr: all three agree. */
function roundTrip(values: readonly ArgValue[]): unknown[] {
  const bytes = encode(values);
  const ours = unpackArgs(bytes, 0, bytes.length);
  expect(unpackValue(bytes), 'msgpackr reads what ArgsEncoder wrote').toEqual(ours);
  // And our reader reads what msgpackr writes.
  const theirs = packValue(values);
  expect(unpackArgs(theirs, 0, theirs.length)).toEqual(ours);
  return ours;
}

function syntaxError(f: () => unknown): string {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(ProtocolError);
    expect((err as ProtocolError).code).toBe('SYNTAX_ERROR');
    return (err as ProtocolError).message;
  }
  throw new Error('expected SYNTAX_ERROR');
}

const unpack = (bytes: number[]): unknown[] => unpackArgs(Buffer.from(bytes), 0, bytes.length);

describe('ArgsEncoder / unpackArgs round trip (SPEC §3)', () => {
  it('strings: every length class, ASCII and not', () => {
    const strings = [
      '',
      'a',
      'x'.repeat(31),
      'x'.repeat(32),
      'x'.repeat(47),
      'x'.repeat(48),
      'x'.repeat(255),
      'x'.repeat(256),
      'x'.repeat(65_535),
      'x'.repeat(65_536),
      'é',
      'naïve café',
      'キュー',
      '🚀 rocket',
      // Non-ASCII past the ASCII fast path's first characters, just under and over its limit.
      `${'a'.repeat(40)}ü`,
      `${'a'.repeat(46)}ü`,
      'ü'.repeat(200),
      '日本'.repeat(100),
      '\u0000nul inside',
    ];
    expect(roundTrip(strings)).toEqual(strings);
  });

  it('a string whose UTF-8 form is over 255 bytes but under 255 characters', () => {
    const s = '€'.repeat(100); // 300 bytes
    const bytes = encode([s]);
    expect(bytes[1]).toBe(0xda); // str16: the length is in bytes, not characters
    expect(roundTrip([s])).toEqual([s]);
  });

  it('integers of every width, both signs', () => {
    const ints = [
      0, 1, 127, 128, 255, 256, 65_535, 65_536, 2 ** 32 - 1, 2 ** 32, Number.MAX_SAFE_INTEGER,
      -1, -32, -33, -128, -129, -32_768, -32_769, -(2 ** 31), -(2 ** 31) - 1, Number.MIN_SAFE_INTEGER,
    ];
    expect(roundTrip(ints)).toEqual(ints);
  });

  it('picks the smallest encoding for each integer', () => {
    const heads = (v: number): string => encode([v]).subarray(1).toString('hex');
    expect(heads(127)).toBe('7f');
    expect(heads(128)).toBe('cc80');
    expect(heads(256)).toBe('cd0100');
    expect(heads(65_536)).toBe('ce00010000');
    expect(heads(2 ** 32)).toBe('cf0000000100000000');
    expect(heads(-32)).toBe('e0');
    expect(heads(-33)).toBe('d0df');
    expect(heads(-129)).toBe('d1ff7f');
    expect(heads(-32_769)).toBe('d2ffff7fff');
    expect(heads(-(2 ** 31) - 1)).toBe('d3ffffffff7fffffff');
  });

  it('floats, booleans and nil', () => {
    expect(roundTrip([1.5, -0.25, 1e300, Infinity, true, false, null])).toEqual([1.5, -0.25, 1e300, Infinity, true, false, null]);
    expect(roundTrip([undefined])).toEqual([null]);
  });

  it('integers beyond 2^53 travel as float64, without loss', () => {
    const big = [2 ** 60, -(2 ** 60), 1e300, -1e300];
    expect(encode([2 ** 60])[1]).toBe(0xcb);
    expect(roundTrip(big)).toEqual(big);
  });

  it('reads float32 (0xca), which the encoder never writes', () => {
    expect(unpack([0x91, 0xca, 0x3f, 0xc0, 0x00, 0x00])).toEqual([1.5]);
  });

  it('maps and nested arrays, beside primitives', () => {
    const values: ArgValue[] = ['q', { 'x-match': 'all', n: 3, nested: { deep: [1, 'two', null] } }, [1, 2, 3], true, {}];
    expect(roundTrip(values)).toEqual(values);
  });

  it('arrays of 16 or more elements (array16 header)', () => {
    const many = Array.from({ length: 300 }, (_, i) => (i % 2 === 0 ? i : `s${i}`));
    const bytes = encode(many);
    expect(bytes[0]).toBe(0xdc);
    expect(roundTrip(many)).toEqual(many);
  });

  it('the encoder can be reused for many messages', () => {
    const enc = new ArgsEncoder();
    for (const values of [['a', 1], [{ m: 1 }], [], ['ü'.repeat(50), -5]] as ArgValue[][]) {
      const buf = Buffer.alloc(enc.measure(values));
      enc.write(buf, 0);
      expect(unpackArgs(buf, 0, buf.length)).toEqual(values);
    }
  });
});

describe('unpackArgs: malformed input is SYNTAX_ERROR', () => {
  it.each<[string, number[], string]>([
    ['no bytes at all', [], 'method arguments are missing'],
    ['a map instead of an array', [0x81, 0xa1, 0x61, 0x01], 'method arguments are not a msgpack array'],
    ['a string instead of an array', [0xa1, 0x61], 'method arguments are not a msgpack array'],
    ['the never-used byte 0xc1', [0xc1], 'method arguments are not a msgpack array'],
    ['an array16 header cut short', [0xdc, 0x00], 'method arguments are not a msgpack array'],
    ['more elements announced than bytes', [0x93, 0x01], 'method arguments are truncated'],
    ['a fixstr cut short', [0x91, 0xa5, 0x61], 'method arguments are truncated'],
    ['a str8 length cut short', [0x91, 0xd9], 'method arguments are truncated'],
    ['a str8 body cut short', [0x91, 0xd9, 0x05, 0x61], 'method arguments are truncated'],
    ['a uint32 cut short', [0x91, 0xce, 0x00, 0x01], 'method arguments are truncated'],
    ['a float64 cut short', [0x91, 0xcb, 0x00], 'method arguments are truncated'],
    ['trailing bytes after the array', [0x90, 0x00], 'method arguments have trailing bytes'],
    ['a map cut short', [0x92, 0x81, 0xa1, 0x61], 'malformed msgpack in method arguments: Unexpected end of MessagePack data'],
    ['trailing bytes after an array holding a map', [0x91, 0x80, 0x00], 'malformed msgpack in method arguments: Data read, but end of buffer not reached [{}]'],
    ['an unknown extension type', [0x91, 0xd4, 0x01, 0x02], 'malformed msgpack in method arguments: Unknown extension 1'],
    ['0xc1 inside the array', [0x91, 0xc1], 'malformed msgpack in method arguments: byte 0xc1 is never used'],
    ['0xc1 inside a map', [0x91, 0x81, 0xa1, 0x61, 0xc1], 'malformed msgpack in method arguments: byte 0xc1 is never used'],
    ['a timestamp extension', [0x91, 0xd6, 0xff, 0x00, 0x00, 0x00, 0x01], 'malformed msgpack in method arguments: extension types are not allowed'],
    ['extension 0 (undefined) inside a map', [0x91, 0x81, 0xa1, 0x61, 0xd4, 0x00, 0x00], 'malformed msgpack in method arguments: extension types are not allowed'],
  ])('%s', (_label, bytes, message) => {
    expect(syntaxError(() => unpack(bytes))).toBe(message);
  });

  it('an array32 announcing 4 billion elements is refused without allocating them', () => {
    expect(syntaxError(() => unpack([0xdd, 0xff, 0xff, 0xff, 0xff, 0x01]))).toBe('method arguments are truncated');
  });
});

describe('unpackProperties (SPEC §3.3)', () => {
  it('decodes a property map', () => {
    const props = { contentType: 'application/json', headers: { a: 1 }, timestamp: 1_700_000_000_000 };
    expect(unpackProperties(packValue(props))).toEqual(props);
  });

  it.each<[string, Buffer, string]>([
    ['not msgpack', Buffer.from([0x81, 0xa1]), 'malformed msgpack in message properties: Unexpected end of MessagePack data'],
    ['an array', packValue([1]), 'message properties are not a msgpack map'],
    ['a string', packValue('x'), 'message properties are not a msgpack map'],
    ['nil', packValue(null), 'message properties are not a msgpack map'],
    ['a map holding an extension', Buffer.from([0x81, 0xa1, 0x74, 0xd6, 0xff, 0, 0, 0, 1]), 'malformed msgpack in message properties: extension types are not allowed'],
  ])('%s is SYNTAX_ERROR', (_label, bytes, message) => {
    expect(syntaxError(() => unpackProperties(bytes))).toBe(message);
  });
});
