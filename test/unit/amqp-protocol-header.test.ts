import { describe, expect, it } from 'vitest';
import { AMQP_PROTOCOL_HEADER, checkAmqpHeader, describeProtocolHeader } from '../../protocol/amqp/protocol-header.js';

const amqp = (...b: number[]): Buffer => Buffer.from([0x41, 0x4d, 0x51, 0x50, ...b]);

describe('protocol header', () => {
  it('accepts 0-9-1 and 0-9, as RabbitMQ 3.x does', () => {
    expect(checkAmqpHeader(AMQP_PROTOCOL_HEADER)).toEqual({ ok: true, protocol: 'AMQP 0-9-1' });
    expect(checkAmqpHeader(amqp(1, 1, 0, 9))).toEqual({ ok: true, protocol: 'AMQP 0-9' });
  });

  it.each([
    [amqp(1, 1, 8, 0), 'AMQP 0-8'],
    [amqp(1, 1, 9, 1), 'AMQP 0-8'],
    [amqp(0, 0, 10, 0), 'AMQP 0-10-0'],
    [amqp(0, 1, 0, 0), 'AMQP 1.0'],
    [amqp(3, 1, 0, 0), 'AMQP 1.0 (SASL)'],
    [amqp(2, 1, 0, 0), 'AMQP 1.0 (TLS)'],
    [Buffer.from('SKIFF\0\x01\x00', 'latin1'), 'Skiff native protocol 1.0'],
    [Buffer.from('GET / HTTP/1.1\r\n'), 'HTTP'],
    [Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01]), 'TLS (a ClientHello: the client expects TLS)'],
    [Buffer.from([0x10, 0x1a, 0x00, 0x04, 0x4d, 0x51, 0x54, 0x54]), 'MQTT'],
    [Buffer.from('hello!!!'), 'unknown (68656c6c6f212121)'],
  ])('refuses %s, names it %s, and answers with the 0-9-1 header', (header, protocol) => {
    expect(describeProtocolHeader(header)).toBe(protocol);
    const check = checkAmqpHeader(header);
    expect(check.ok).toBe(false);
    if (!check.ok) {
      expect(check.protocol).toBe(protocol);
      expect(check.reply.toString('hex')).toBe('414d515000000901');
    }
  });
});
