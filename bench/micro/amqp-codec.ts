/**
 * The AMQP 0-9-1 codec's per-message work, beside amqplib's codec for the same messages:
 *
 *   npm run bench:build && node bench/dist/bench/micro/amqp-codec.js [--seconds 1]
 *
 * For 128 B and 4 KiB bodies, each without properties and with typical ones (content-type,
 * delivery-mode 2, a header):
 * - decode publish / decode deliver: AmqpFrameDecoder.push of a 64 KiB chunk of method +
 *   content header + body frames, content assembled and handed to a sink, as the server's (or
 *   a client's) read path does. amqplib: its frame parser and decodeFrame for each frame
 *   (it decodes, but leaves the assembly of content to its channel).
 * - encode deliver: AmqpFrameWriter.deliver with raw properties (the server forwarding a
 *   message as received), and deliverStored from a stored message; amqplib: encodeMethod +
 *   encodeProperties + makeBodyFrame (what its connection writes for a publish).
 * - encode publish: AmqpFrameWriter.content with decoded properties (a client).
 * Prints ns per message and messages/s for each, and a JSON summary line.
 */
import { createRequire } from 'node:module';
import { storeAmqpMessage, storedBodyStart } from '../../protocol/amqp/content.js';
import { AmqpFrameDecoder, type AmqpFrameSink } from '../../protocol/amqp/frame-decoder.js';
import { encodeBasicProperties, maxBasicPropertiesSize } from '../../protocol/amqp/methods.generated.js';
import { Method, type BasicProperties } from '../../protocol/amqp/spec.generated.js';
import { AmqpFrameWriter } from '../../protocol/amqp/writer.js';
import { SinkSocket as Sink, measure as harnessMeasure, type Measurement } from './harness.js';

const seconds = Number(process.argv[process.argv.indexOf('--seconds') + 1] || 1);
const require = createRequire(import.meta.url);
const amqplibRoot = new URL('../../../node_modules/amqplib/lib/', import.meta.url).pathname;
interface AmqplibFrame {
  parseFrame(bin: Buffer, max: number): false | { type: number; channel: number; size: number; payload: Buffer; rest: Buffer };
  decodeFrame(f: { type: number; channel: number; payload: Buffer }): unknown;
  makeBodyFrame(channel: number, payload: Buffer): Buffer;
}
interface AmqplibDefs {
  encodeMethod(id: number, channel: number, fields: Record<string, unknown>): Buffer;
  encodeProperties(id: number, channel: number, size: number, fields: Record<string, unknown>): Buffer;
}
const amqplibFrame = require(`${amqplibRoot}frame.js`) as AmqplibFrame;
const amqplibDefs = require(`${amqplibRoot}defs.js`) as AmqplibDefs;

const FRAME_MAX = 131072;
const TYPICAL: BasicProperties = { contentType: 'application/json', deliveryMode: 2, headers: { 'x-trace': 'abc123' } };

function rawProps(p: BasicProperties): Buffer {
  const b = Buffer.alloc(maxBasicPropertiesSize(p));
  return b.subarray(0, encodeBasicProperties(b, 0, p));
}

function chunkOf(write: (w: AmqpFrameWriter) => void, perMessage: number): { chunk: Buffer; count: number } {
  const s = new Sink();
  const w = new AmqpFrameWriter(s, { frameMax: FRAME_MAX, highWaterMark: 1 << 30 });
  const count = Math.max(1, Math.floor(65536 / perMessage));
  for (let i = 0; i < count; i++) write(w);
  w.flush();
  return { chunk: Buffer.concat(s.chunks), count };
}

let sunk = 0;
const sink: AmqpFrameSink = {
  onMethod() {
    sunk++;
  },
  onContent(_c, _m, _p, _r, body) {
    sunk += body.length;
  },
  onHeartbeat() {},
  onError(e) {
    throw e;
  },
};

function measure(name: string, perCall: number, fn: () => void): Measurement {
  return harnessMeasure(name, perCall, fn, seconds, 44);
}

function amqplibDecode(chunk: Buffer): void {
  let rest = chunk;
  for (;;) {
    const f = amqplibFrame.parseFrame(rest, FRAME_MAX);
    if (f === false) break;
    amqplibFrame.decodeFrame(f);
    rest = f.rest;
  }
}

const results: Measurement[] = [];
const out = new Sink();
out.keep = false;
const writer = new AmqpFrameWriter(out, { frameMax: FRAME_MAX, highWaterMark: 1 << 30 });

for (const size of [128, 4096]) {
  const body = Buffer.alloc(size, 7);
  for (const [label, props] of [
    ['no props', {}],
    ['props', TYPICAL],
  ] as const) {
    const raw = rawProps(props);
    const tag = `${size} B, ${label}`;
    const publish = chunkOf((w) => w.content(1, Method.BasicPublish, { exchange: 'bench.direct', routingKey: 'bench.q', mandatory: false, immediate: false }, props, body), size + 80);
    const deliver = chunkOf((w) => w.deliver(1, 'amq.ctag-1', 1, false, 'bench.direct', 'bench.q', raw, body), size + 90);
    const decoder = new AmqpFrameDecoder(sink, { frameMax: FRAME_MAX });
    results.push(
      measure(`decode publish ${tag}`, publish.count, () => decoder.push(publish.chunk)),
      measure(`  amqplib decode publish ${tag}`, publish.count, () => amqplibDecode(publish.chunk)),
      measure(`decode deliver ${tag}`, deliver.count, () => decoder.push(deliver.chunk)),
      measure(`  amqplib decode deliver ${tag}`, deliver.count, () => amqplibDecode(deliver.chunk)),
    );
    const n = 256;
    const stored = storeAmqpMessage(raw, body, 0);
    const bodyStart = storedBodyStart(stored);
    let dtag = 1;
    results.push(
      measure(`encode deliver (raw props) ${tag}`, n, () => {
        for (let i = 0; i < n; i++) writer.deliver(1, 'amq.ctag-1', dtag++, false, 'bench.direct', 'bench.q', raw, body);
        writer.flush();
      }),
      measure(`encode deliverStored ${tag}`, n, () => {
        for (let i = 0; i < n; i++) writer.deliverStored(1, 'amq.ctag-1', dtag++, false, 'bench.direct', 'bench.q', stored, 5, bodyStart, bodyStart);
        writer.flush();
      }),
      measure(`encode publish (decoded props) ${tag}`, n, () => {
        for (let i = 0; i < n; i++) writer.content(1, Method.BasicPublish, { exchange: 'bench.direct', routingKey: 'bench.q', mandatory: false, immediate: false }, props, body);
        writer.flush();
      }),
      measure(`  amqplib encode publish ${tag}`, n, () => {
        for (let i = 0; i < n; i++) {
          amqplibDefs.encodeMethod(Method.BasicPublish, 1, { exchange: 'bench.direct', routingKey: 'bench.q', mandatory: false });
          amqplibDefs.encodeProperties(60, 1, body.length, props as Record<string, unknown>);
          amqplibFrame.makeBodyFrame(1, body);
        }
      }),
    );
  }
}
let acks = 0;
results.push(
  measure('encode basic.ack (confirms)', 256, () => {
    for (let i = 0; i < 256; i++) writer.ack(1, acks++, false);
    writer.flush();
  }),
);
process.stdout.write(`${JSON.stringify({ bench: 'amqp-codec', results, sink: sunk > 0 })}\n`);
