import { describe, expect, it } from 'vitest';
import { Method, ProtocolError, allMethods, packValue, parseMethod, splitContent } from '../../protocol/index.js';
import { contentPayload, methodPayload, rawMethodPayload, u16, u32 } from '../helpers/frames.js';

function parseError(payload: Buffer, sentBy?: 'client' | 'server'): { code: string; message: string; methodId: number } {
  try {
    parseMethod(payload, sentBy);
  } catch (err) {
    expect(err).toBeInstanceOf(ProtocolError);
    const e = err as ProtocolError;
    return { code: e.code, message: e.message, methodId: e.methodId };
  }
  throw new Error('expected parseMethod to throw');
}

const SYNTAX = 'SYNTAX_ERROR';

describe('parseMethod: valid methods (SPEC §3)', () => {
  it('fills omitted and nil optional arguments with their defaults', () => {
    const p = parseMethod(methodPayload(Method.QueueDeclare, ['jobs', null, true]));
    expect(p.def.name).toBe('queue.declare');
    expect(p.args).toEqual(['jobs', false, true, false, false, {}]);
    expect(p.content).toBeNull();
  });

  it('defaults requeue to true for reject and nack, as AMQP', () => {
    expect(parseMethod(methodPayload(Method.BasicReject, [5])).args).toEqual([5, true]);
    expect(parseMethod(methodPayload(Method.BasicNack, [5])).args).toEqual([5, false, true]);
  });

  it('gives each optional map default its own object', () => {
    const a = parseMethod(methodPayload(Method.QueueBind, ['q', 'x', 'k'])).args[3] as Record<string, unknown>;
    const b = parseMethod(methodPayload(Method.QueueBind, ['q', 'x', 'k'])).args[3] as Record<string, unknown>;
    a['mutated'] = true;
    expect(b).toEqual({});
  });

  it('splits a content method into arguments, properties and body, without copying', () => {
    const props = { contentType: 'text/plain', headers: { a: 1 } };
    const payload = contentPayload(Method.BasicPublish, ['ex', 'rk', true], props, Buffer.from('body bytes'));
    const p = parseMethod(payload);
    expect(p.args).toEqual(['ex', 'rk', true, false, 0, 0]);
    const content = p.content as Buffer;
    expect(content.buffer).toBe(payload.buffer);
    const { props: pr, body } = splitContent(content);
    expect(pr).toEqual(packValue(props));
    expect(p.propsSize).toBe(pr.length);
    expect(body.toString()).toBe('body bytes');
  });

  it('accepts a content method with no properties and an empty body', () => {
    const p = parseMethod(contentPayload(Method.BasicPublish, ['', 'q'], null, Buffer.alloc(0)));
    expect(p.propsSize).toBe(0);
    expect(splitContent(p.content as Buffer)).toEqual({ props: Buffer.alloc(0), body: Buffer.alloc(0) });
  });

  it('parses every method in the table from its minimal arguments', () => {
    const sample = { str: 's', bool: true, uint: 1, map: {}, 'str[]': ['a'], any: 1 } as const;
    for (const d of allMethods()) {
      const args = d.fields.slice(0, d.required).map((f) => sample[f[1]]);
      const payload = d.content ? contentPayload(d.id, args, null, Buffer.from('b')) : methodPayload(d.id, args);
      expect(parseMethod(payload).def, d.name).toBe(d);
    }
  });
});

describe('parseMethod: malformed methods', () => {
  it('a payload too short for a method id is FRAME_ERROR', () => {
    expect(parseError(Buffer.from([0x3c]))).toEqual({ code: 'FRAME_ERROR', message: 'method frame is too short for a method id', methodId: 0 });
  });

  it.each([
    [0x0000, 'unknown method 0x0000'],
    [0xffff, 'unknown method 0xffff'],
    [0x3c10, 'unknown method 0x3c10'],
  ])('unknown method id %i is COMMAND_INVALID', (id, message) => {
    expect(parseError(methodPayload(id, []))).toEqual({ code: 'COMMAND_INVALID', message, methodId: id });
  });

  it.each<[string, number, unknown[], string]>([
    ['too few arguments', Method.QueuePurge, [], 'queue.purge takes 1 argument, got 0'],
    ['too many arguments', Method.QueuePurge, ['q', 1], 'queue.purge takes 1 argument, got 2'],
    ['too many optional arguments', Method.QueueDeclare, ['q', false, false, false, false, {}, 1], 'queue.declare takes 1 to 6 arguments, got 7'],
    ['arguments to a method that takes none', Method.ChannelOpen, ['x'], 'channel.open takes 0 arguments, got 1'],
    ['a number for a string', Method.QueueDeclare, [5], "queue.declare: argument 'queue' must be a string"],
    ['a string for a boolean', Method.QueueDeclare, ['q', 'yes'], "queue.declare: argument 'passive' must be a boolean"],
    ['a negative delivery tag', Method.BasicAck, [-1], "basic.ack: argument 'deliveryTag' must be a non-negative integer"],
    ['a fractional delivery tag', Method.BasicAck, [1.5], "basic.ack: argument 'deliveryTag' must be a non-negative integer"],
    ['an array for a map', Method.QueueBind, ['q', 'x', 'k', [1]], "queue.bind: argument 'arguments' must be a map"],
    ['bin for a map', Method.QueueBind, ['q', 'x', 'k', Buffer.from('ab')], "queue.bind: argument 'arguments' must be a map"],
    ['bin for a string', Method.QueuePurge, [Buffer.from('q')], "queue.purge: argument 'queue' must be a string"],
    ['nil for a required argument', Method.QueueBind, ['q', null, 'k'], "queue.bind: argument 'exchange' is required"],
    ['a string for a list of strings', Method.ConnectionStart, [1, 0, {}, 'PLAIN', 0, 0, 0], "connection.start: argument 'mechanisms' must be an array of strings"],
  ])('%s is SYNTAX_ERROR naming the argument', (_label, id, args, message) => {
    expect(parseError(methodPayload(id, args))).toEqual({ code: SYNTAX, message, methodId: id });
  });

  it('malformed msgpack arguments are SYNTAX_ERROR with the method id', () => {
    expect(parseError(rawMethodPayload(Method.QueuePurge, [0x91, 0xa5, 0x61]))).toEqual({
      code: SYNTAX,
      message: 'method arguments are truncated',
      methodId: Method.QueuePurge,
    });
    expect(parseError(rawMethodPayload(Method.QueuePurge, []))).toEqual({
      code: SYNTAX,
      message: 'method arguments are missing',
      methodId: Method.QueuePurge,
    });
  });

  describe('content methods', () => {
    const args = packValue(['', 'q']);
    const P = Method.BasicPublish;

    it.each<[string, Buffer, string]>([
      ['no argsSize', Buffer.concat([u16(P), Buffer.from([0, 0])]), 'basic.publish: content frame is truncated'],
      ['argsSize past the end', Buffer.concat([u16(P), u32(100), args, u32(0)]), 'basic.publish: content frame is truncated'],
      ['no propsSize', Buffer.concat([u16(P), u32(args.length), args]), 'basic.publish: content frame is truncated'],
      [
        'props past the end',
        Buffer.concat([u16(P), u32(args.length), args, u32(10), Buffer.from([0x80])]),
        'basic.publish: property map runs past the end of the frame',
      ],
      [
        'propsSize near 2^32',
        Buffer.concat([u16(P), u32(args.length), args, u32(0xffffffff)]),
        'basic.publish: property map runs past the end of the frame',
      ],
      ['arguments not an array', Buffer.concat([u16(P), u32(1), Buffer.from([0x80]), u32(0)]), 'method arguments are not a msgpack array'],
      ['argsSize cutting the arguments short', Buffer.concat([u16(P), u32(2), args, u32(0)]), 'method arguments are truncated'],
    ])('%s is SYNTAX_ERROR', (_label, payload, message) => {
      expect(parseError(payload)).toEqual({ code: SYNTAX, message, methodId: P });
    });
  });
});

describe('parseMethod: direction (SPEC §3.1)', () => {
  it('a server-only method sent by a client is COMMAND_INVALID, checked before its arguments', () => {
    expect(parseError(methodPayload(Method.BasicDeliver, ['garbage']), 'client')).toEqual({
      code: 'COMMAND_INVALID',
      message: 'basic.deliver is not sent by clients',
      methodId: Method.BasicDeliver,
    });
  });

  it('a client-only method sent by a server is COMMAND_INVALID', () => {
    expect(parseError(methodPayload(Method.BasicPublish, []), 'server')).toEqual({
      code: 'COMMAND_INVALID',
      message: 'basic.publish is not sent by servers',
      methodId: Method.BasicPublish,
    });
  });

  it('methods sent both ways parse from either side', () => {
    for (const sentBy of ['client', 'server'] as const) {
      expect(parseMethod(methodPayload(Method.BasicAck, [1]), sentBy).def.name).toBe('basic.ack');
    }
  });
});
