import { build, decodeFromCompressedBase64, encodeIntoCompressedBase64, type Histogram } from 'hdr-histogram-js';

/**
 * End-to-end latency: the publisher writes `process.hrtime` (CLOCK_MONOTONIC, the same clock in
 * every process on the machine) into the first 8 bytes of each body; the consumer subtracts.
 * Values are recorded in microseconds, up to 2 minutes, 3 significant digits.
 */
export const STAMP_BYTES = 8;

export function newHistogram(): Histogram {
  return build({ lowestDiscernibleValue: 1, highestTrackableValue: 120_000_000, numberOfSignificantValueDigits: 3 });
}

export function stamp(body: Buffer): void {
  body.writeBigUInt64LE(process.hrtime.bigint(), 0);
}

/** Microseconds since the body was stamped. */
export function ageMicros(body: Buffer): number {
  if (body.length < STAMP_BYTES) return 0;
  const us = Number(process.hrtime.bigint() - body.readBigUInt64LE(0)) / 1000;
  return us < 1 ? 1 : us;
}

export function encodeHistogram(h: Histogram): string {
  return encodeIntoCompressedBase64(h);
}

/** Merges histograms sent by agents. */
export function mergeHistograms(encoded: readonly string[]): Histogram {
  const total = newHistogram();
  for (const e of encoded) if (e !== '') total.add(decodeFromCompressedBase64(e));
  return total;
}

export interface LatencySummary {
  count: number;
  p50Ms: number;
  p99Ms: number;
  p999Ms: number;
  maxMs: number;
}

export function summarize(h: Histogram): LatencySummary {
  const ms = (us: number): number => us / 1000;
  return {
    count: h.totalCount,
    p50Ms: ms(h.getValueAtPercentile(50)),
    p99Ms: ms(h.getValueAtPercentile(99)),
    p999Ms: ms(h.getValueAtPercentile(99.9)),
    maxMs: ms(h.maxValue),
  };
}
