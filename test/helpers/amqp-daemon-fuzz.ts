import { connect as netConnect } from 'node:net';
import type { WritableLike } from '../../protocol/codec/batch-writer.js';
import { AMQP_PROTOCOL_HEADER } from '../../protocol/amqp/protocol-header.js';
import { Method } from '../../protocol/amqp/spec.generated.js';
import { AmqpFrameWriter } from '../../protocol/amqp/writer.js';
import { mutate, randomFrames, validStream } from './amqp-fuzz.js';
import type { Random } from './random.js';

/**
 * Random and mutated AMQP frames against a running daemon's AMQP port, one connection per
 * stream: each gets past the handshake first (so the frames reach channels, the broker and
 * content assembly, not just the handshake's checks), opens channels 1–5, then sends its
 * frames in pieces cut as a socket would, and ends once the daemon closes it or stops reading.
 * Shared by the bounded e2e test and bench/micro/amqp-daemon-fuzz.ts.
 */

/** Frames written by the codec's writer, as bytes. */
function encode(write: (w: AmqpFrameWriter) => void): Buffer {
  const chunks: Buffer[] = [];
  const out: WritableLike = {
    write: (c: Buffer) => chunks.push(Buffer.from(c)) > 0,
    cork: () => undefined,
    uncork: () => undefined,
    writableLength: 0,
    destroyed: false,
    once: () => out,
  };
  const w = new AmqpFrameWriter(out);
  write(w);
  w.flush();
  return Buffer.concat(chunks);
}

const START_OK = encode((w) =>
  w.method(0, Method.ConnectionStartOk, { clientProperties: {}, mechanism: 'PLAIN', response: Buffer.from('\0guest\0guest'), locale: 'en_US' }),
);
const OPEN_ALL = encode((w) => {
  w.method(0, Method.ConnectionTuneOk, { channelMax: 2047, frameMax: 131072, heartbeat: 0 });
  w.method(0, Method.ConnectionOpen, { virtualHost: '/' });
  for (let ch = 1; ch <= 5; ch++) w.method(ch, Method.ChannelOpen, {});
});
const TUNE = Buffer.from('000a001e', 'hex');

/** One fuzz stream; the frames it held. */
export function fuzzInput(rnd: Random): { bytes: Buffer; frames: number } {
  const kind = rnd.next();
  if (kind < 0.15) {
    const n = rnd.int(1, 60);
    return { bytes: randomFrames(rnd, n), frames: n };
  }
  const s = validStream(rnd, rnd.int(5, 60), 4096);
  return { bytes: kind < 0.25 ? s.bytes : mutate(rnd, s.bytes), frames: s.frames };
}

/** Sends one stream on a new connection; resolves when the daemon has closed it (or after `idleMs` of silence). */
export function fuzzConnection(port: number, rnd: Random, input: Buffer, idleMs = 200): Promise<void> {
  return new Promise((resolve) => {
    const s = netConnect({ port, host: '127.0.0.1' });
    let stage = 0;
    let seen = Buffer.alloc(0);
    let idle: NodeJS.Timeout | null = null;
    const finish = (): void => {
      if (idle !== null) clearTimeout(idle);
      s.destroy();
      resolve();
    };
    const arm = (): void => {
      if (idle !== null) clearTimeout(idle);
      idle = setTimeout(finish, idleMs);
    };
    s.on('error', () => undefined);
    s.on('close', finish);
    s.on('connect', () => {
      s.write(Buffer.concat([AMQP_PROTOCOL_HEADER, START_OK]));
      arm();
    });
    s.on('data', (b: Buffer) => {
      arm();
      if (stage !== 0) return;
      seen = Buffer.concat([seen, b]);
      // connection.tune (class 10, method 30) means credentials were accepted: go on.
      if (seen.includes(TUNE)) {
        stage = 1;
        s.write(OPEN_ALL);
        const piece = rnd.pick([1, 7, 100, 4096, 65536]);
        for (let at = 0; at < input.length; at += piece) s.write(input.subarray(at, at + piece));
      }
    });
  });
}

export interface FuzzDaemonResult {
  frames: number;
  connections: number;
}

/** Runs `concurrency` connections at a time until `frames` frames were sent; `between` runs every `every` connections. */
export async function fuzzDaemon(
  port: number,
  rnd: Random,
  o: { frames: number; concurrency: number; every?: number; between?: (done: FuzzDaemonResult) => Promise<void> },
): Promise<FuzzDaemonResult> {
  const done: FuzzDaemonResult = { frames: 0, connections: 0 };
  while (done.frames < o.frames) {
    const batch: Promise<void>[] = [];
    for (let i = 0; i < o.concurrency; i++) {
      const input = fuzzInput(rnd);
      done.frames += input.frames;
      batch.push(fuzzConnection(port, rnd, input.bytes));
    }
    await Promise.all(batch);
    done.connections += batch.length;
    if (o.between !== undefined && done.connections % (o.every ?? 100) < o.concurrency) await o.between(done);
  }
  return done;
}
