import type { WritableLike } from '../../protocol/codec/batch-writer.js';

/** Collects written bytes (to build input) or discards them (`keep = false`, to time encoding). */
export class SinkSocket implements WritableLike {
  chunks: Buffer[] = [];
  keep = true;
  writableLength = 0;
  destroyed = false;
  write(chunk: Buffer): boolean {
    if (this.keep) this.chunks.push(Buffer.from(chunk));
    return true;
  }
  cork(): void {}
  uncork(): void {}
  once(): this {
    return this;
  }
}

/** One timed operation: ns per message and messages per second. */
export interface Measurement {
  name: string;
  nsPerMsg: number;
  msgsPerSec: number;
  /** CPU time (user + system) per message: steadier than wall time on a shared machine. */
  cpuNsPerMsg: number;
}

/**
 * Runs `fn` (which handles `perCall` messages) for a 300 ms warm-up, then for `seconds`, and
 * prints and returns the time per message.
 */
export function measure(name: string, perCall: number, fn: () => void, seconds: number, width = 16): Measurement {
  const warm = process.hrtime.bigint() + 300_000_000n;
  while (process.hrtime.bigint() < warm) fn();
  const cpu = process.cpuUsage();
  const start = process.hrtime.bigint();
  const end = start + BigInt(Math.round(seconds * 1e9));
  let calls = 0;
  let now = start;
  while (now < end) {
    for (let k = 0; k < 10; k++) fn();
    calls += 10;
    now = process.hrtime.bigint();
  }
  const used = process.cpuUsage(cpu);
  const nsPerMsg = Number(now - start) / (calls * perCall);
  const cpuNsPerMsg = ((used.user + used.system) * 1000) / (calls * perCall);
  const msgsPerSec = 1e9 / nsPerMsg;
  process.stdout.write(
    `${name.padEnd(width)} ${nsPerMsg.toFixed(1).padStart(8)} ns/msg ${(msgsPerSec / 1e6).toFixed(2).padStart(7)} M msg/s ${cpuNsPerMsg.toFixed(1).padStart(8)} cpu ns/msg\n`,
  );
  return { name, nsPerMsg, msgsPerSec, cpuNsPerMsg };
}
