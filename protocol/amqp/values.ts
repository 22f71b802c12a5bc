/**
 * How AMQP field-table values look in JavaScript (RabbitMQ's table, which differs from the
 * 0-9-1 spec's: see https://www.rabbitmq.com/amqp-0-9-1-errata.html).
 *
 * | tag | AMQP type | decoded as | encoded from |
 * | --- | --- | --- | --- |
 * | `t` | boolean | `boolean` | `boolean` |
 * | `b` `B` `s` `u` `I` `i` | int8, uint8, int16, uint16, int32, uint32 | `number` | integral `number` (b, s, I or l by range, as amqplib) |
 * | `l` (and `L`) | int64 | `number` when safe, else `bigint` | integral `number` beyond int32, `bigint` |
 * | `f` `d` | float, double | `number` | non-integral `number`, NaN, ±Infinity → `d` |
 * | `D` | decimal | {@link AmqpDecimal} | {@link AmqpDecimal} |
 * | `S` | long string | `string` (UTF-8); bytes that are not UTF-8 as `AmqpTyped('S', bytes)` | `string` |
 * | `x` | byte array | `Buffer` | `Uint8Array` / `Buffer` |
 * | `T` | timestamp (seconds) | `Date` (out of `Date`'s range: `AmqpTyped('T', seconds)`) | `Date` |
 * | `A` | array | `FieldValue[]` | array (`undefined` elements as void) |
 * | `F` | nested table | `FieldTable` | any other object |
 * | `V` | void | `null` | `null` (`undefined` table entries are left out) |
 *
 * {@link AmqpTyped} pins a value to a tag for encoding, and `decodeTableTyped` returns every
 * value wrapped that way, so a table decoded typed re-encodes to the same bytes.
 */

/** The tag of a field value. */
export type FieldType = 't' | 'b' | 'B' | 's' | 'u' | 'I' | 'i' | 'l' | 'f' | 'd' | 'D' | 'S' | 'x' | 'A' | 'T' | 'F' | 'V';

/** A field table: shortstr keys to tagged values. */
export interface FieldTable {
  [key: string]: FieldValue | undefined;
}

/** A field value as the table codec reads and writes it (see the module comment). */
export type FieldValue =
  | string
  | number
  | bigint
  | boolean
  | null
  | Date
  | Uint8Array
  | AmqpDecimal
  | AmqpTyped
  | FieldValue[]
  | FieldTable;

/**
 * A decimal `value × 10^-scale` (tag `D`): `scale` is an octet, `value` an unsigned 32-bit
 * integer, as RabbitMQ reads and writes them.
 */
export class AmqpDecimal {
  readonly scale: number;
  readonly value: number;

  constructor(scale: number, value: number) {
    if (!Number.isInteger(scale) || scale < 0 || scale > 255) throw new RangeError(`decimal scale ${scale} is not an octet`);
    if (!Number.isInteger(value) || value < 0 || value > 0xffff_ffff) throw new RangeError(`decimal value ${value} is not an unsigned 32-bit integer`);
    this.scale = scale;
    this.value = value;
  }

  /** The nearest double. */
  toNumber(): number {
    return this.value / 10 ** this.scale;
  }

  /** The exact value in decimal notation (`12.50` for scale 2, value 1250). */
  toString(): string {
    if (this.scale === 0) return String(this.value);
    const digits = String(this.value).padStart(this.scale + 1, '0');
    return `${digits.slice(0, -this.scale)}.${digits.slice(-this.scale)}`;
  }
}

/** What each tag holds inside an {@link AmqpTyped}. */
export interface TypedValues {
  t: boolean;
  b: number;
  B: number;
  s: number;
  u: number;
  I: number;
  i: number;
  l: number | bigint;
  f: number;
  d: number;
  D: AmqpDecimal;
  /** A string, or the exact bytes when they are not UTF-8. */
  S: string | Uint8Array;
  x: Uint8Array;
  A: FieldValue[];
  /** Seconds since the epoch. */
  T: number | bigint;
  F: FieldTable;
  V: null;
}

/**
 * A value pinned to a field type: encodes with exactly that tag (range-checked), and is what
 * typed decoding returns, so types survive a round trip (`new AmqpTyped('u', 5)` stays a uint16).
 */
export class AmqpTyped<T extends FieldType = FieldType> {
  readonly type: T;
  readonly value: TypedValues[T];

  constructor(type: T, value: TypedValues[T]) {
    this.type = type;
    this.value = value;
  }
}
