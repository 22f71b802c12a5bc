import { formatCount, type OutStream } from './io.js';

/** Redraws at most this often: a terminal cannot show more, and each redraw is a write. */
const REDRAW_MS = 100;
const BAR_WIDTH = 30;

/**
 * A one-line progress display on a TTY (`[#####-----] 500/1,000 50% 12,345/s` with a known
 * total, `1,234 messages 12,345/s` without). On anything else it stays silent, so pipes and
 * logs get only the final summary.
 */
export class Progress {
  private readonly stream: OutStream;
  private readonly label: string;
  private readonly total: number | null;
  private readonly enabled: boolean;
  private readonly startedAt = Date.now();
  private lastDraw = 0;
  private done = 0;
  private drawn = false;

  constructor(stream: OutStream, label: string, total: number | null) {
    this.stream = stream;
    this.label = label;
    this.total = total;
    this.enabled = stream.isTTY === true;
  }

  update(done: number): void {
    this.done = done;
    if (!this.enabled) return;
    const now = Date.now();
    if (now - this.lastDraw < REDRAW_MS && done !== this.total) return;
    this.lastDraw = now;
    this.stream.write(`\r${this.render(now)}\u001b[K`);
    this.drawn = true;
  }

  /** Clears the line so the summary that follows starts clean. */
  finish(): void {
    if (this.drawn) this.stream.write('\r\u001b[K');
  }

  /** @internal exposed for tests */
  render(now: number): string {
    const seconds = Math.max((now - this.startedAt) / 1000, 0.001);
    const rate = `${formatCount(Math.round(this.done / seconds))}/s`;
    if (this.total === null || this.total === 0) return `${this.label} ${formatCount(this.done)} ${rate}`;
    const frac = Math.min(this.done / this.total, 1);
    const filled = Math.round(frac * BAR_WIDTH);
    const bar = `[${'#'.repeat(filled)}${'-'.repeat(BAR_WIDTH - filled)}]`;
    return `${this.label} ${bar} ${formatCount(this.done)}/${formatCount(this.total)} ${Math.floor(frac * 100)}% ${rate}`;
  }
}
