/**
 * The broker's per-message wire work, without sockets or the broker model:
 *
 *   npm run bench:build && node bench/dist/bench/micro/codec.js [--seconds 1]
 *
 * - decode publish: FrameDecoder.push of a 64 KiB chunk of basic.publish frames (128 B bodies)
 *   and parseMethod of each, as the server's read path does;
 * - decode ack: the same for basic.ack frames;
 * - … + named args: the same, then `argsOf` as the server's handlers read them (`args.exchange`);
 * - encode deliver: FrameWriter.contentRaw of basic.deliver for each message, as the server's
 *   delivery path does, into a socket stand-in that discards the bytes;
 * - encode publish: the client's FrameWriter.content for basic.publish.
 * Prints ns per message (wall and CPU) for each and a JSON summary line.
 */
import {
  FrameDecoder,
  FrameWriter,
  Method,
  argsOf,
  parseMethod,
  type ArgValue,
  type FrameSink,
} from '../../protocol/index.js';
import { SinkSocket as Sink, measure as harnessMeasure, type Measurement } from './harness.js';

const seconds = Number(process.argv[process.argv.indexOf('--seconds') + 1] || 1);

function frames(n: number, write: (w: FrameWriter, i: number) => void): Buffer {
  const s = new Sink();
  const w = new FrameWriter(s, 1 << 30);
  for (let i = 0; i < n; i++) write(w, i);
  w.flush();
  return Buffer.concat(s.chunks);
}

const body = Buffer.alloc(128, 7);
const publishArgs = (): ArgValue[] => ['bench.direct', 'bench.q', false, false, 0, 0];
const PER_CHUNK = Math.floor(65536 / 170);
const publishChunk = frames(PER_CHUNK, (w) => w.content(1, Method.BasicPublish, publishArgs(), null, body));
const ackChunk = frames(PER_CHUNK, (w, i) => w.method(1, Method.BasicAck, [100_000 + i, false]));

let sink = 0;
const decodeSink: FrameSink = {
  onFrame(_type, _channel, payload) {
    const p = parseMethod(payload);
    sink += p.args.length + (p.content?.length ?? 0);
  },
};

function measure(name: string, perCall: number, fn: () => void): Measurement {
  return harnessMeasure(name, perCall, fn, seconds);
}

const namedSink: FrameSink = {
  onFrame(_type, _channel, payload) {
    const p = parseMethod(payload);
    if (p.def.id === Method.BasicPublish) sink += argsOf(p, Method.BasicPublish).routingKey.length + (p.content?.length ?? 0);
    else sink += argsOf(p, Method.BasicAck).deliveryTag;
  },
};

const decoder = new FrameDecoder(decodeSink, 1 << 20);
const named = new FrameDecoder(namedSink, 1 << 20);
const results = [
  measure('decode publish', PER_CHUNK, () => decoder.push(publishChunk)),
  measure('decode publish + named args', PER_CHUNK, () => named.push(publishChunk)),
  measure('decode ack', PER_CHUNK, () => decoder.push(ackChunk)),
  measure('decode ack + named args', PER_CHUNK, () => named.push(ackChunk)),
];

// The content tail of a received publish, as the broker stores and forwards it.
let stored: Buffer | null = null;
new FrameDecoder({ onFrame: (_t, _c, p) => (stored ??= parseMethod(p).content) }, 1 << 20).push(publishChunk);
const tail = stored as unknown as Buffer;
const out = new Sink();
out.keep = false;
const writer = new FrameWriter(out, 1 << 30);
let tag = 1;
results.push(
  measure('encode deliver', PER_CHUNK, () => {
    for (let i = 0; i < PER_CHUNK; i++) {
      writer.contentRaw(1, Method.BasicDeliver, ['sk.ctag-1.1', tag++, false, 'bench.direct', 'bench.q', false], tail);
    }
    writer.flush();
  }),
  measure('encode publish', PER_CHUNK, () => {
    for (let i = 0; i < PER_CHUNK; i++) writer.content(1, Method.BasicPublish, publishArgs(), null, body);
    writer.flush();
  }),
);
process.stdout.write(`${JSON.stringify({ bench: 'codec', results, sink: sink > 0 })}\n`);
