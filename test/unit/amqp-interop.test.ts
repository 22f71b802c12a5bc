import { describe, expect, it } from 'vitest';
import { packValue, unpackProperties } from '../../protocol/codec/msgpack.js';
import {
  AMQP_PROPERTIES_TAG,
  isAmqpStored,
  storeAmqpMessage,
  storedAmqpProperties,
  storedBodyStart,
  storedHeaders,
  storedHeadroom,
  storedNativeProperties,
} from '../../protocol/amqp/content.js';
import { AmqpError } from '../../protocol/amqp/errors.js';
import { AmqpFrameDecoder } from '../../protocol/amqp/frame-decoder.js';
import { fromNativeProperties, fromNativeTable, parseExpiration, toNativeProperties, toNativePublishFlags, toNativeTable } from '../../protocol/amqp/interop.js';
import { encodeBasicProperties, maxBasicPropertiesSize } from '../../protocol/amqp/methods.generated.js';
import { Method, type BasicProperties } from '../../protocol/amqp/spec.generated.js';
import { tableFromBuffer, tableToBuffer } from '../../protocol/amqp/table.js';
import { AmqpDecimal, AmqpTyped } from '../../protocol/amqp/values.js';
import { amqplibDefs, bodyFrame, headerFrame } from '../helpers/amqp.js';

const AMQP: BasicProperties = {
  contentType: 'application/json',
  contentEncoding: 'utf-8',
  headers: { n: 1, s: 'x' },
  deliveryMode: 2,
  priority: 5,
  correlationId: 'c',
  replyTo: 'r',
  expiration: '1500',
  messageId: 'm',
  timestamp: 1_700_000_000,
  type: 't',
  userId: 'guest',
  appId: 'app',
  clusterId: 'dropped',
};

function raw(p: BasicProperties): Buffer {
  const b = Buffer.alloc(maxBasicPropertiesSize(p));
  return b.subarray(0, encodeBasicProperties(b, 0, p));
}

describe('properties AMQP → native', () => {
  it('maps the ten shared properties; timestamps become ms', () => {
    expect(toNativeProperties(AMQP)).toEqual({
      contentType: 'application/json',
      contentEncoding: 'utf-8',
      headers: { n: 1, s: 'x' },
      correlationId: 'c',
      replyTo: 'r',
      messageId: 'm',
      timestamp: 1_700_000_000_000,
      type: 't',
      userId: 'guest',
      appId: 'app',
    });
    expect(toNativeProperties({})).toEqual({});
  });

  it('delivery-mode, priority and expiration become the publish flags', () => {
    expect(toNativePublishFlags(AMQP)).toEqual({ persistent: true, priority: 5, expiration: 1500 });
    expect(toNativePublishFlags({ deliveryMode: 1 })).toEqual({ persistent: false, priority: 0, expiration: 0 });
  });

  it('parses expiration as RabbitMQ does, and words its refusals the same', () => {
    expect(parseExpiration('0')).toBe(0);
    expect(parseExpiration('+60000')).toBe(60000);
    expect(parseExpiration('-0')).toBe(0);
    expect(parseExpiration('315360000000')).toBe(315_360_000_000);
    const refusal = (s: string): string => {
      try {
        parseExpiration(s);
      } catch (err) {
        expect(err).toBeInstanceOf(AmqpError);
        expect((err as AmqpError).code).toBe('PRECONDITION_FAILED');
        return (err as AmqpError).replyText;
      }
      throw new Error('expected a refusal');
    };
    expect(refusal('soon')).toBe("PRECONDITION_FAILED - invalid expiration 'soon': no_integer");
    expect(refusal('')).toBe("PRECONDITION_FAILED - invalid expiration '': no_integer");
    expect(refusal('5.5')).toBe('PRECONDITION_FAILED - invalid expiration \'5.5\': {leftover_string,".5"}');
    expect(refusal('-5')).toBe("PRECONDITION_FAILED - invalid expiration '-5': {value_negative,-5}");
    expect(refusal('315360000001')).toBe("PRECONDITION_FAILED - invalid expiration '315360000001': {value_too_large,315360000001}");
  });
});

describe('properties native → AMQP', () => {
  it('maps the map and the flags back', () => {
    const n = toNativeProperties(AMQP);
    const { clusterId: _dropped, ...rest } = AMQP;
    expect(fromNativeProperties(n as Record<string, unknown>, toNativePublishFlags(AMQP))).toEqual(rest);
  });

  it('leaves out what AMQP cannot hold or what has the wrong type', () => {
    expect(
      fromNativeProperties({ contentType: 'x'.repeat(256), messageId: 5, timestamp: -1, headers: 'no', type: 'ok', appId: null }, { persistent: false, priority: 0, expiration: 0 }),
    ).toEqual({ type: 'ok' });
    expect(fromNativeProperties({}, { priority: 300 })).toEqual({ priority: 255 });
    expect(fromNativeProperties({ timestamp: 1_700_000_000_999 })).toEqual({ timestamp: 1_700_000_000 });
  });
});

describe('header values', () => {
  it('AMQP types become their nearest msgpack values, and survive a msgpack round trip', () => {
    const amqp = {
      s: 'text',
      i: 5,
      neg: -5,
      f: 1.5,
      big: 2n ** 60n,
      yes: true,
      nil: null,
      when: new Date(1_700_000_000_000),
      dec: new AmqpDecimal(2, 150),
      bytes: Buffer.from([1, 2]),
      arr: [1, 'a', [null]],
      tab: { deep: { x: 1 } },
      u: new AmqpTyped('u', 9),
      rawS: new AmqpTyped('S', Buffer.from([0xff])),
      ts: new AmqpTyped('T', 1_700_000_000),
    };
    const native = toNativeTable(amqp);
    expect(native).toEqual({
      s: 'text',
      i: 5,
      neg: -5,
      f: 1.5,
      big: 2n ** 60n,
      yes: true,
      nil: null,
      when: 1_700_000_000_000,
      dec: 1.5,
      bytes: Buffer.from([1, 2]),
      arr: [1, 'a', [null]],
      tab: { deep: { x: 1 } },
      u: 9,
      rawS: Buffer.from([0xff]),
      ts: 1_700_000_000_000,
    });
    const viaMsgpack = unpackProperties(packValue({ headers: native }))['headers'] as Record<string, unknown>;
    const back = tableFromBuffer(tableToBuffer(fromNativeTable(viaMsgpack)), true);
    expect(back).toMatchObject({
      s: new AmqpTyped('S', 'text'),
      i: new AmqpTyped('b', 5),
      f: new AmqpTyped('d', 1.5),
      big: new AmqpTyped('l', 2n ** 60n),
      yes: new AmqpTyped('t', true),
      nil: new AmqpTyped('V', null),
      bytes: new AmqpTyped('x', Buffer.from([1, 2])),
      tab: new AmqpTyped('F', { deep: new AmqpTyped('F', { x: new AmqpTyped('b', 1) }) }),
    });
  });

  it('x-death gets RabbitMQ’s types back: time a timestamp, count a long', () => {
    const native = { 'x-death': [{ queue: 'q', reason: 'expired', count: 2, time: 1_700_000_000_500, exchange: '', 'routing-keys': ['q'], 'original-expiration': 100 }] };
    const t = tableFromBuffer(tableToBuffer(fromNativeTable(native)), true);
    expect(t['x-death']).toEqual(
      new AmqpTyped('A', [
        new AmqpTyped('F', {
          queue: new AmqpTyped('S', 'q'),
          reason: new AmqpTyped('S', 'expired'),
          count: new AmqpTyped('l', 2),
          time: new AmqpTyped('T', 1_700_000_000),
          exchange: new AmqpTyped('S', ''),
          'routing-keys': new AmqpTyped('A', [new AmqpTyped('S', 'q')]),
          'original-expiration': new AmqpTyped('S', '100'),
        }),
      ]),
    );
  });

  it('keys AMQP cannot hold and values it has no type for are left out', () => {
    expect(fromNativeTable({ ['k'.repeat(256)]: 1, f: () => 1, u: undefined, ok: 1 })).toEqual({ ok: 1 });
  });
});

describe('the stored form', () => {
  const props: BasicProperties = { contentType: 'text/plain', headers: { route: 'a' }, messageId: 'id-1' };
  const rawProps = raw(props);

  it('is built around an assembled body in place, without copying it', () => {
    let stored: Buffer | null = null;
    let assembled: Buffer | null = null;
    const d = new AmqpFrameDecoder(
      {
        onMethod() {},
        onHeartbeat() {},
        onError(e) {
          throw e;
        },
        onContent(_c, _m, _p, r, body, headroom) {
          assembled = body;
          stored = storeAmqpMessage(r, body, headroom);
        },
      },
      { frameMax: 4096, bodyHeadroom: storedHeadroom },
    );
    const body = Buffer.alloc(6000, 9);
    d.push(
      Buffer.concat([
        amqplibDefs.encodeMethod(Method.BasicPublish, 1, { exchange: 'e', routingKey: 'k' }),
        headerFrame(1, body.length, rawProps),
        bodyFrame(1, body.subarray(0, 4000)),
        bodyFrame(1, body.subarray(4000)),
      ]),
    );
    const s = stored as unknown as Buffer;
    const a = assembled as unknown as Buffer;
    expect(s.buffer).toBe(a.buffer);
    expect(s.byteOffset + storedBodyStart(s)).toBe(a.byteOffset);
    expect(s[4]).toBe(AMQP_PROPERTIES_TAG);
    expect(s.subarray(5, storedBodyStart(s)).equals(rawProps)).toBe(true);
    expect(s.subarray(storedBodyStart(s)).equals(body)).toBe(true);
  });

  it('copies a body it has no headroom for', () => {
    const body = Buffer.from('abc');
    const s = storeAmqpMessage(rawProps, body, 0);
    body[0] = 0x7a;
    expect(s.subarray(storedBodyStart(s)).toString()).toBe('abc');
    expect(isAmqpStored(s)).toBe(true);
    expect(s.readUInt32BE(0)).toBe(1 + rawProps.length);
  });

  it('a native property block never starts with the tag', () => {
    for (const m of [{}, { a: 1 }, Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`k${i}`, i]))]) expect(packValue(m)[0]).not.toBe(AMQP_PROPERTIES_TAG);
  });

  it('each form’s properties read for the other protocol', () => {
    const amqpStored = storeAmqpMessage(rawProps, Buffer.from('x'), 0);
    expect(storedAmqpProperties(amqpStored)).toMatchObject(props);
    expect(unpackProperties(storedNativeProperties(amqpStored))).toEqual({ contentType: 'text/plain', headers: { route: 'a' }, messageId: 'id-1' });
    expect(storedNativeProperties(storeAmqpMessage(raw({}), Buffer.from('x'), 0))).toHaveLength(0);

    const packed = packValue({ contentType: 'a/b', headers: { route: 'b' }, timestamp: 2000 });
    const native = Buffer.concat([Buffer.from([0, 0, 0, packed.length]), packed, Buffer.from('body')]);
    expect(isAmqpStored(native)).toBe(false);
    expect(storedAmqpProperties(native, { persistent: true })).toEqual({ contentType: 'a/b', headers: { route: 'b' }, timestamp: 2, deliveryMode: 2 });
    expect(storedNativeProperties(native).equals(packed)).toBe(true);
    expect(storedHeaders(native)).toEqual({ route: 'b' });
    expect(storedHeaders(amqpStored)).toEqual({ route: 'a' });
    expect(storedHeaders(Buffer.from([0, 0, 0, 0, 1]))).toEqual({});
  });
});
