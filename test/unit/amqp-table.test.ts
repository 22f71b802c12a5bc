import { describe, expect, it } from 'vitest';
import { AmqpError } from '../../protocol/amqp/errors.js';
import { MAX_TABLE_DEPTH, decodeTable, encodeTable, tableFromBuffer, tableMaxSize, tableToBuffer } from '../../protocol/amqp/table.js';
import { AmqpDecimal, AmqpTyped, type FieldTable, type FieldValue } from '../../protocol/amqp/values.js';
import { amqplibCodec, amqplibTable } from '../helpers/amqp.js';

/** An encoded table from entries given as [key, tag, value bytes]. */
function table(...entries: [string, string, Buffer | readonly number[]][]): Buffer {
  const body = Buffer.concat(entries.map(([k, tag, v]) => Buffer.concat([Buffer.from([Buffer.byteLength(k)]), Buffer.from(k), Buffer.from(tag), Buffer.from(v)])));
  return Buffer.concat([u32(body.length), body]);
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

function lenPrefixed(b: Buffer): Buffer {
  return Buffer.concat([u32(b.length), b]);
}

function decodeError(bytes: Buffer): AmqpError {
  try {
    tableFromBuffer(bytes);
  } catch (err) {
    expect(err).toBeInstanceOf(AmqpError);
    return err as AmqpError;
  }
  throw new Error('expected an AmqpError');
}

describe('decoding every RabbitMQ type', () => {
  const i64 = (v: bigint): Buffer => {
    const b = Buffer.alloc(8);
    b.writeBigInt64BE(v);
    return b;
  };
  const cases: [string, string, Buffer | number[], FieldValue][] = [
    ['t', 't', [1], true],
    ['t0', 't', [0], false],
    ['b', 'b', [0xff], -1],
    ['B', 'B', [0xff], 255],
    ['s', 's', [0x80, 0x00], -32768],
    ['u', 'u', [0xff, 0xff], 65535],
    ['I', 'I', [0x80, 0, 0, 0], -2147483648],
    ['i', 'i', [0xff, 0xff, 0xff, 0xff], 4294967295],
    ['l', 'l', i64(-(2n ** 53n) + 1n), -(2 ** 53) + 1],
    ['l big', 'l', i64(2n ** 62n + 1n), 2n ** 62n + 1n],
    ['l min', 'l', i64(-(2n ** 63n)), -(2n ** 63n)],
    ['L', 'L', i64(7n), 7],
    ['f', 'f', [0x3f, 0xc0, 0, 0], 1.5],
    ['d', 'd', [0x40, 0x09, 0x21, 0xfb, 0x54, 0x44, 0x2d, 0x18], Math.PI],
    ['D', 'D', [2, 0, 0, 0x04, 0xe2], new AmqpDecimal(2, 1250)],
    ['S', 'S', lenPrefixed(Buffer.from('hé')), 'hé'],
    ['S empty', 'S', lenPrefixed(Buffer.alloc(0)), ''],
    ['x', 'x', lenPrefixed(Buffer.from([0, 1, 0xff])), Buffer.from([0, 1, 0xff])],
    ['T', 'T', [0, 0, 0, 0, 0x65, 0x53, 0xf1, 0x00], new Date(0x6553f100 * 1000)],
    ['V', 'V', [], null],
    ['F', 'F', table(['a', 'b', [1]]), { a: 1 }],
    ['F empty', 'F', u32(0), {}],
    ['A', 'A', lenPrefixed(Buffer.from([0x62, 1, 0x53, 0, 0, 0, 1, 0x7a, 0x41, 0, 0, 0, 0])), [1, 'z', []]],
  ];

  it.each(cases)('%s', (key, tag, bytes, value) => {
    expect(tableFromBuffer(table([key, tag, bytes]))).toEqual({ [key]: value });
  });

  it('typed decoding wraps every value, nested ones included, and re-encodes to the same bytes', () => {
    const bytes = table(...cases.map(([k, t, b]) => [k, t, b] as [string, string, Buffer | number[]]));
    const typed = tableFromBuffer(bytes, true);
    expect(typed['u']).toEqual(new AmqpTyped('u', 65535));
    expect(typed['F']).toEqual(new AmqpTyped('F', { a: new AmqpTyped('b', 1) }));
    expect(typed['A']).toEqual(new AmqpTyped('A', [new AmqpTyped('b', 1), new AmqpTyped('S', 'z'), new AmqpTyped('A', [])]));
    expect(typed['T']).toEqual(new AmqpTyped('T', 0x6553f100));
    // 'L' comes back as 'l' (RabbitMQ reads both as a long); everything else is byte-identical.
    const again = tableToBuffer(typed);
    expect(again.toString('hex')).toBe(bytes.toString('hex').replace(Buffer.from('\x01LL').toString('hex'), Buffer.from('\x01Ll').toString('hex')));
  });

  it('a long string that is not UTF-8 keeps its bytes, pinned to S', () => {
    const bad = Buffer.from([0x61, 0xff, 0xfe]);
    const t = tableFromBuffer(table(['k', 'S', lenPrefixed(bad)]));
    expect(t).toEqual({ k: new AmqpTyped('S', bad) });
    expect(tableToBuffer(t).toString('hex')).toBe(table(['k', 'S', lenPrefixed(bad)]).toString('hex'));
  });

  it('a timestamp beyond Date’s range stays exact, pinned to T', () => {
    const t = tableFromBuffer(table(['k', 'T', [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]]));
    expect(t).toEqual({ k: new AmqpTyped('T', 2n ** 64n - 1n) });
  });

  it('a key __proto__ is an entry, not a prototype', () => {
    const t = tableFromBuffer(table(['__proto__', 'F', table(['polluted', 't', [1]])]));
    expect(Object.getPrototypeOf(t)).toBe(Object.prototype);
    expect(Object.keys(t)).toEqual(['__proto__']);
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });

  it('decodes what amqplib encodes, its typed forms included', () => {
    const src = {
      s: 'str',
      n: 5,
      neg: -70000,
      big: 2 ** 40,
      f: 1.25,
      yes: true,
      nil: null,
      buf: Buffer.from('xyz'),
      arr: [1, 'a', [true], { k: 'v' }],
      obj: { deep: { deeper: 1 } },
      ts: { '!': 'timestamp', value: 1_700_000_000 },
      dec: { '!': 'decimal', value: { places: 3, digits: 12345 } },
      u8: { '!': 'uint8', value: 200 },
      u16: { '!': 'uint16', value: 60000 },
      u32: { '!': 'uint32', value: 4_000_000_000 },
      fl: { '!': 'float', value: 0.5 },
    };
    expect(tableFromBuffer(amqplibTable(src))).toEqual({
      s: 'str',
      n: 5,
      neg: -70000,
      big: 2 ** 40,
      f: 1.25,
      yes: true,
      nil: null,
      buf: Buffer.from('xyz'),
      arr: [1, 'a', [true], { k: 'v' }],
      obj: { deep: { deeper: 1 } },
      ts: new Date(1_700_000_000_000),
      dec: new AmqpDecimal(3, 12345),
      u8: 200,
      u16: 60000,
      u32: 4_000_000_000,
      fl: 0.5,
    });
  });
});

describe('encoding from JavaScript', () => {
  it('chooses the types amqplib chooses', () => {
    const t = {
      s: 'text',
      e: '',
      b0: 0,
      b1: -128,
      b2: 127,
      s1: 128,
      s2: -32768,
      i1: 32768,
      i2: -2147483648,
      i3: 2147483647,
      l1: 2147483648,
      l2: -(2 ** 40),
      l3: 2 ** 53 + 2,
      d1: 0.5,
      d2: -1e-9,
      d3: 2 ** 64,
      yes: true,
      no: false,
      nil: null,
      buf: Buffer.from([1, 2]),
      arr: [1, 'x', null, [2]],
      nested: { a: { b: {} } },
      skipped: undefined,
    };
    expect(tableToBuffer(t).toString('hex')).toBe(amqplibTable(t).toString('hex'));
  });

  it('NaN and infinities are doubles', () => {
    expect(tableFromBuffer(tableToBuffer({ n: Number.NaN, i: -Infinity }))).toEqual({ n: Number.NaN, i: -Infinity });
    expect(tableToBuffer({ n: Number.NaN })[6]).toBe(0x64);
  });

  it('types amqplib cannot infer: bigint, Date, Uint8Array, decimals and pinned values', () => {
    const t: FieldTable = {
      big: 2n ** 62n,
      when: new Date(1_700_000_000_999),
      bytes: new Uint8Array([9, 8]),
      dec: new AmqpDecimal(1, 5),
      u: new AmqpTyped('u', 7),
      i: new AmqpTyped('i', 4_000_000_000),
      f: new AmqpTyped('f', 0.25),
      S: new AmqpTyped('S', Buffer.from([0xff])),
      l: new AmqpTyped('l', 1),
      hole: [undefined as unknown as FieldValue],
    };
    const back = tableFromBuffer(tableToBuffer(t));
    expect(back).toEqual({
      big: 2n ** 62n,
      when: new Date(1_700_000_000_000),
      bytes: Buffer.from([9, 8]),
      dec: new AmqpDecimal(1, 5),
      u: 7,
      i: 4_000_000_000,
      f: 0.25,
      S: new AmqpTyped('S', Buffer.from([0xff])),
      l: 1,
      hole: [null],
    });
    expect(tableFromBuffer(tableToBuffer(t), true)['u']).toEqual(new AmqpTyped('u', 7));
  });

  it('the empty table is four zero octets; nested arrays of arrays', () => {
    expect(tableToBuffer({}).toString('hex')).toBe('00000000');
    const nested = { a: [[[[]]], [[1]]] };
    expect(tableFromBuffer(tableToBuffer(nested))).toEqual(nested);
  });

  it('keys up to 255 bytes; a longer key is a RangeError', () => {
    const k = 'k'.repeat(255);
    expect(tableFromBuffer(tableToBuffer({ [k]: 1 }))).toEqual({ [k]: 1 });
    expect(() => tableToBuffer({ ['k'.repeat(256)]: 1 })).toThrow(RangeError);
  });

  it('a long string of 1 MiB', () => {
    const big = 'é'.repeat(512 * 1024);
    expect(tableFromBuffer(tableToBuffer({ big }))).toEqual({ big });
  });

  it('what AMQP cannot hold is refused with a clear error', () => {
    expect(() => tableToBuffer({ b: 2n ** 63n })).toThrow(new RangeError('bigint 9223372036854775808 does not fit a signed 64-bit field value'));
    expect(() => tableToBuffer({ d: new Date(Number.NaN) })).toThrow(new RangeError('an invalid Date cannot be a timestamp'));
    expect(() => tableToBuffer({ d: new Date(-1000) })).toThrow(/is before 1970/);
    expect(() => tableToBuffer({ f: (() => 1) as unknown as FieldValue })).toThrow(new TypeError('a function cannot be a field value'));
    expect(() => tableToBuffer({ u: new AmqpTyped('u', 70000) })).toThrow(RangeError);
    const cycle: FieldTable = {};
    cycle['self'] = cycle;
    expect(() => tableToBuffer(cycle)).toThrow(new RangeError(`field tables and arrays nest deeper than ${MAX_TABLE_DEPTH} levels (a cycle?)`));
    expect(() => new AmqpDecimal(256, 1)).toThrow(new RangeError('decimal scale 256 is not an octet'));
    expect(() => new AmqpDecimal(1, -1)).toThrow(new RangeError('decimal value -1 is not an unsigned 32-bit integer'));
  });

  it('the size bound holds for what is written', () => {
    const t = { a: 'é'.repeat(100), b: [1, 2.5, 'x', { c: Buffer.alloc(10) }], d: new AmqpTyped('S', 'zz') };
    const b = Buffer.alloc(4096);
    expect(encodeTable(b, 0, t)).toBeLessThanOrEqual(tableMaxSize(t));
  });

  it('decimals print exactly', () => {
    expect(String(new AmqpDecimal(2, 1250))).toBe('12.50');
    expect(String(new AmqpDecimal(3, 5))).toBe('0.005');
    expect(String(new AmqpDecimal(0, 42))).toBe('42');
    expect(new AmqpDecimal(2, 1250).toNumber()).toBe(12.5);
  });
});

describe('malformed tables', () => {
  it('an unknown type tag is named, with its key', () => {
    const e = decodeError(table(['x-foo', 'Z', [0]]));
    expect([e.code, e.replyCode, e.message]).toEqual(['FRAME_ERROR', 501, "malformed field table: unknown field type 'Z' (0x5a) for key 'x-foo'"]);
    expect(decodeError(table(['k', '\u0001', []])).message).toBe("malformed field table: unknown field type 0x01 for key 'k'");
    const inArray = table(['a', 'A', lenPrefixed(Buffer.from([0x62, 1, 0x55, 0]))]);
    expect(decodeError(inArray).message).toBe("malformed field table: unknown field type 'U' (0x55) for array element 1");
  });

  it.each([
    ['t', [], 't'],
    ['b', [], 'b'],
    ['s', [1], 's'],
    ['I', [1, 2, 3], 'I'],
    ['l', [1, 2, 3, 4, 5, 6, 7], 'l'],
    ['d', [1], 'd'],
    ['D', [1, 0, 0, 0], 'D'],
    ['S length', [0, 0], 'S'],
    ['S bytes', [0, 0, 0, 5, 0x61], 'S'],
    ['x', [0, 0, 0, 2, 0], 'x'],
    ['F', [0, 0, 0, 9], 'F'],
    ['A', [0xff, 0xff, 0xff, 0xff], 'A'],
    ['T', [0, 0, 0], 'T'],
  ] as [string, number[], string][])('a %s value that overruns the table', (_n, bytes, tag) => {
    expect(decodeError(table(['k', tag, bytes])).message).toBe("malformed field table: the value of key 'k' overruns its table or array");
  });

  it('a key that overruns the table, and a nested table that overruns its parent', () => {
    expect(decodeError(Buffer.from([0, 0, 0, 3, 5, 0x61, 0x62])).message).toBe('malformed field table: the entry after 0 entries overruns the table');
    // outer table of 8 octets holding F with a claimed 100-octet body
    expect(decodeError(Buffer.from([0, 0, 0, 8, 1, 0x6b, 0x46, 0, 0, 0, 100, 0])).message).toBe(
      "malformed field table: the value of key 'k' overruns its table or array",
    );
    expect(decodeError(Buffer.from([0, 0, 0, 9, 1])).message).toBe('malformed field table: the table length 9 does not match its 1 octets');
    expect(decodeError(Buffer.from([0, 0])).message).toBe('malformed field table: the table length is truncated');
  });

  it(`nesting is bounded at ${MAX_TABLE_DEPTH} levels, whether tables or arrays`, () => {
    // n tables or arrays nested in a table: the innermost is at depth n
    const nest = (n: number, tag: 'F' | 'A'): Buffer => {
      let inner = u32(0);
      for (let i = 1; i < n; i++) inner = lenPrefixed(tag === 'F' ? Buffer.concat([Buffer.from([1, 0x6b, 0x46]), inner]) : Buffer.concat([Buffer.from([0x41]), inner]));
      return lenPrefixed(Buffer.concat([Buffer.from([1, 0x6b, tag.charCodeAt(0)]), inner]));
    };
    const tooDeep = `malformed field table: tables and arrays nest deeper than ${MAX_TABLE_DEPTH} levels`;
    for (const tag of ['F', 'A'] as const) {
      expect(() => tableFromBuffer(nest(MAX_TABLE_DEPTH - 1, tag))).not.toThrow();
      expect(decodeError(nest(MAX_TABLE_DEPTH, tag)).message).toBe(tooDeep);
    }
    // An array of an array of ... 100 000 deep, built directly (5 octets a level).
    const levels = 100_000;
    const deep = Buffer.alloc(4 + 3 + levels * 5);
    deep.writeUInt32BE(deep.length - 4, 0);
    deep.set([1, 0x6b, 0x41], 4);
    for (let i = 0, at = 7; i < levels; i++, at += 5) {
      deep.writeUInt32BE(deep.length - at - 4, at);
      if (i < levels - 1) deep[at + 4] = 0x41;
    }
    // (the last octet is never read: the depth bound stops the decoder long before)
    expect(decodeError(deep).code).toBe('FRAME_ERROR');
  });

  it('decodes only the given range', () => {
    const b = Buffer.concat([Buffer.from([0xee]), table(['a', 'b', [1]]).subarray(4), Buffer.from([0xee])]);
    expect(decodeTable(b, 1, b.length - 1)).toEqual({ a: 1 });
  });

  it('agrees with amqplib on every table amqplib decodes', () => {
    const t = { a: 1, b: 'two', c: [3, { d: 4 }], e: null, f: true, g: -0.5 };
    const bytes = tableToBuffer(t);
    expect(amqplibCodec.decodeFields(bytes.subarray(4))).toEqual(t);
  });
});
