import type { Readable, Writable } from 'node:stream';

/** A terminal-ish output stream: a TTY tells its width and takes carriage returns. */
export type OutStream = Writable & { isTTY?: boolean; columns?: number };

/**
 * Where a command reads and writes. The real streams in `skiff`, buffers in tests: no command
 * touches `process.stdout` itself.
 */
export interface Io {
  readonly stdout: OutStream;
  readonly stderr: OutStream;
  readonly stdin: Readable & { isTTY?: boolean; setRawMode?: (raw: boolean) => unknown };
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Calls `handler` on Ctrl-C / SIGTERM until the returned function is called. */
  onInterrupt(handler: () => void): () => void;
  /** Ends the process at once (a second Ctrl-C while the daemon stops). */
  exit(code: number): void;
  /** Calls `handler` on SIGHUP (reload TLS certificates) until the returned function is called. */
  onHangup?(handler: () => void): () => void;
}

/** The real process streams, environment and signals. */
export function processIo(): Io {
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    stdin: process.stdin,
    env: process.env,
    onInterrupt: (handler) => {
      process.on('SIGINT', handler);
      process.on('SIGTERM', handler);
      return () => {
        process.off('SIGINT', handler);
        process.off('SIGTERM', handler);
      };
    },
    exit: (code) => process.exit(code),
    onHangup: (handler) => {
      process.on('SIGHUP', handler);
      return () => process.off('SIGHUP', handler);
    },
  };
}

/** Writes one line. */
export function println(stream: Writable, line = ''): void {
  stream.write(`${line}\n`);
}

/** `--json` output: pretty-printed so it reads well in a terminal and parses everywhere. */
export function printJson(io: Io, value: unknown): void {
  println(io.stdout, JSON.stringify(value, null, 2));
}

/** A table column: its header and how to read its cell from a row. */
export interface Column<T> {
  header: string;
  value: (row: T) => string | number | boolean | null;
}

function cell(v: string | number | boolean | null): string {
  if (v === null) return '';
  if (typeof v === 'number') return formatCount(v);
  return String(v);
}

/**
 * An aligned table, header first, two spaces between columns, numbers right-aligned and the
 * last column not padded (so long names do not leave trailing spaces).
 */
export function formatTable<T>(rows: readonly T[], columns: readonly Column<T>[]): string {
  const raw = rows.map((r) => columns.map((c) => c.value(r)));
  const text = [columns.map((c) => c.header), ...raw.map((r) => r.map(cell))];
  const numeric = columns.map((_, i) => raw.length !== 0 && raw.every((r) => typeof r[i] === 'number'));
  const widths = columns.map((_, i) => Math.max(...text.map((r) => (r[i] as string).length)));
  return text
    .map((r) =>
      r
        .map((c, i) => {
          if (i === r.length - 1 && !numeric[i]) return c;
          return numeric[i] ? c.padStart(widths[i] as number) : c.padEnd(widths[i] as number);
        })
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** 1234567 → 1,234,567; fractions keep one decimal. */
export function formatCount(n: number): string {
  return Number.isInteger(n) ? n.toLocaleString('en-US') : n.toLocaleString('en-US', { minimumFractionDigits: 1, maximumFractionDigits: 1 });
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

/** 1536 → '1.5 KiB'. */
export function formatBytes(n: number): string {
  let v = n;
  let u = 0;
  while (v >= 1024 && u < UNITS.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${v} B` : `${v.toFixed(1)} ${UNITS[u]}`;
}

/** 3723000 → '1h 2m 3s'. */
export function formatDuration(ms: number): string {
  let s = Math.floor(ms / 1000);
  const d = Math.floor(s / 86400);
  s -= d * 86400;
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  const parts = [d && `${d}d`, h && `${h}h`, m && `${m}m`, `${s}s`].filter(Boolean);
  return parts.slice(0, 3).join(' ');
}
