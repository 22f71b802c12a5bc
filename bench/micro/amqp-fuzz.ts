/**
 * Fuzzes the AMQP frame decoder with at least a million random and mutated frames:
 *
 *   npm run bench:build && node --expose-gc bench/dist/bench/micro/amqp-fuzz.js [--frames 1000000] [--seed 1]
 *
 * Each round takes a valid stream written by our writer (every method, content over several
 * frames), mutates it (bit flips, lying sizes, cuts, junk, lost and repeated runs) or replaces
 * it with random frames, and pushes it in random chunks into a fresh decoder with RabbitMQ's
 * limits (frame-max 131072, max body 16 MiB). It fails (exit 1) if a push throws or anything
 * but an AmqpError is reported, and reports frames/s, the errors seen by code, and the heap
 * before and after (bounded memory: the heap after the run is what it was before).
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import { AmqpError } from '../../protocol/amqp/errors.js';
import { AmqpFrameDecoder, type AmqpFrameSink } from '../../protocol/amqp/frame-decoder.js';
import { mutate, randomFrames, validStream } from '../../test/helpers/amqp-fuzz.js';
import { Random } from '../../test/helpers/random.js';

const arg = (name: string, dflt: number): number => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};
const target = arg('--frames', 1_000_000);
const seed = arg('--seed', 1);
const gc = (globalThis as { gc?: () => void }).gc;

const errors = new Map<string, number>();
let contents = 0;
let methods = 0;
let bad = 0;
const sink: AmqpFrameSink = {
  onMethod() {
    methods++;
  },
  onContent() {
    contents++;
  },
  onHeartbeat() {},
  onError(e) {
    if (!(e instanceof AmqpError)) bad++;
    errors.set(e.code, (errors.get(e.code) ?? 0) + 1);
  },
};

gc?.();
const heapBefore = process.memoryUsage().heapUsed;
let maxRss = 0;
let maxPending = 0;
let frames = 0;
let bytes = 0;
let rounds = 0;
const rnd = new Random(seed);
// Inputs are made ahead in batches so that the timing is the decoder's, not the generator's.
let decodeNs = 0n;
while (frames < target) {
  const batch: [Buffer, number][] = [];
  let batchFrames = 0;
  for (let i = 0; i < 200; i++) {
    const kind = rnd.next();
    let input: Buffer;
    if (kind < 0.15) {
      const n = rnd.int(1, 60);
      input = randomFrames(rnd, n);
      batchFrames += n;
    } else {
      const s = validStream(rnd, rnd.int(5, 60), rnd.next() < 0.1 ? 131072 : 4096);
      input = kind < 0.25 ? s.bytes : mutate(rnd, s.bytes);
      batchFrames += s.frames;
    }
    bytes += input.length;
    // chunk size for this input; byte-at-a-time only for small inputs (a view per byte)
    batch.push([input, input.length < 8192 ? rnd.pick([1, 7, 100, 4096]) : rnd.pick([7, 100, 4096, 65536])]);
  }
  const t0 = process.hrtime.bigint();
  for (const [input, piece] of batch) {
    const d = new AmqpFrameDecoder(sink, { frameMax: 131072, maxBodySize: 16 * 1024 * 1024 });
    // pieces of `piece` octets give or take a few, cut as a socket would
    for (let at = 0, k = 0; at < input.length; k++) {
      const n = Math.max(1, piece + ((k * 7919) % 5) - 2);
      const c = input.subarray(at, at + n);
      at += n;
      try {
        d.push(c);
      } catch (err) {
        process.stderr.write(`push threw (seed ${seed}, round ${rounds}): ${(err as Error).stack}\n`);
        process.exit(1);
      }
      if (d.pendingBodyBytes > maxPending) maxPending = d.pendingBodyBytes;
    }
    rounds++;
  }
  decodeNs += process.hrtime.bigint() - t0;
  frames += batchFrames;
  // The writers that made the inputs leave the shared flush set only on the next turn.
  await nextTurn();
  const rss = process.memoryUsage().rss;
  if (rss > maxRss) maxRss = rss;
}
gc?.();
const heapAfter = process.memoryUsage().heapUsed;
const secs = Number(decodeNs) / 1e9;
const summary = {
  bench: 'amqp-fuzz',
  seed,
  frames,
  streams: rounds,
  mbytes: +(bytes / 1e6).toFixed(1),
  decodeSeconds: +secs.toFixed(2),
  framesPerSec: Math.round(frames / secs),
  methods,
  contents,
  errors: Object.fromEntries([...errors].sort((a, b) => b[1] - a[1])),
  maxPendingBodyBytes: maxPending,
  heapBeforeMB: +(heapBefore / 1e6).toFixed(1),
  heapAfterMB: +(heapAfter / 1e6).toFixed(1),
  maxRssMB: +(maxRss / 1e6).toFixed(1),
  gc: gc !== undefined,
};
process.stdout.write(`${JSON.stringify(summary)}\n`);
if (bad > 0) {
  process.stderr.write(`${bad} errors were not AmqpErrors\n`);
  process.exit(1);
}
