import { describe, expect, it } from 'vitest';
import { AmqpError } from '../../protocol/amqp/errors.js';
import { AmqpFrameDecoder } from '../../protocol/amqp/frame-decoder.js';
import { mutate, randomFrames, validStream } from '../helpers/amqp-fuzz.js';
import { recorder, type Event } from '../helpers/amqp.js';
import { Random } from '../helpers/random.js';

const MAX_BODY = 256 * 1024;

/** Decodes `chunks`, asserting the decoder's contract for any input. */
function run(chunks: Buffer[], label: string): Event[] {
  const r = recorder();
  const d = new AmqpFrameDecoder(r.sink, { frameMax: 4096, maxBodySize: MAX_BODY, expectProtocolHeader: false });
  for (const c of chunks) {
    expect(() => d.push(c), label).not.toThrow();
    // bodies in assembly: at most a few channels' worth, never what a size field claims
    expect(d.pendingBodyBytes, label).toBeLessThanOrEqual(8 * MAX_BODY);
  }
  for (const e of r.errors) {
    expect(e, label).toBeInstanceOf(AmqpError);
    expect(e.isConnectionError, label).toBe(true);
  }
  // the first error closes; a fatal one stops everything
  const first = r.events.findIndex((e) => e.kind === 'error');
  if (first >= 0) {
    // after it: channel 0's close or close-ok, or a fatal error (framing lost) that ends all
    const after = r.events.slice(first + 1);
    const fatal = after.findIndex((e) => e.kind === 'error');
    if (fatal >= 0) {
      expect(after[fatal], label).toMatchObject({ kind: 'error', fatal: true });
      expect(after.length, label).toBe(fatal + 1);
    }
    const methods = fatal >= 0 ? after.slice(0, fatal) : after;
    for (const e of methods) expect(e.kind === 'method' && e.channel === 0 && (e.method.id === 0x000a0032 || e.method.id === 0x000a0033), label).toBe(true);
    expect(d.closing, label).toBe(true);
  }
  return r.events;
}

describe('decoder fuzz (seeded; a failing seed is in the message)', () => {
  it('valid streams decode the same whatever the chunking', () => {
    for (let seed = 1; seed <= 40; seed++) {
      const rnd = new Random(seed);
      const { bytes } = validStream(rnd, 150);
      const whole = run([bytes], `seed ${seed} whole`);
      expect(whole.some((e) => e.kind === 'error'), `seed ${seed}`).toBe(false);
      expect(run(rnd.splits(bytes, rnd.int(1, 3000)), `seed ${seed} split`), `seed ${seed}`).toEqual(whole);
    }
  });

  it('mutated streams give only the codec’s own errors, never a throw, with bounded memory', () => {
    let errors = 0;
    for (let seed = 1; seed <= 1000; seed++) {
      const rnd = new Random(seed);
      const { bytes } = validStream(rnd, 20);
      const events = run(rnd.splits(mutate(rnd, bytes), rnd.int(1, 2000)), `seed ${seed}`);
      if (events.some((e) => e.kind === 'error')) errors++;
    }
    expect(errors).toBeGreaterThan(500); // the mutations do break things (most streams)
  });

  it('random frames', () => {
    for (let seed = 1; seed <= 300; seed++) {
      const rnd = new Random(seed);
      run(rnd.splits(randomFrames(rnd, 50), rnd.int(1, 500)), `seed ${seed}`);
    }
  });
});
