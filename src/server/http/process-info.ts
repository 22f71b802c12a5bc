import { readdirSync, readFileSync } from 'node:fs';

/**
 * File descriptors of this process, from /proc (Linux); null elsewhere. Read when a node or the
 * metrics are asked for, never on a timer.
 */
export function openFds(): number | null {
  try {
    return readdirSync('/proc/self/fd').length;
  } catch {
    return null;
  }
}

let maxFdsCache: number | null | undefined;

/** The soft limit on open files (`ulimit -n`), from /proc/self/limits; null when unknown. */
export function maxFds(): number | null {
  if (maxFdsCache !== undefined) return maxFdsCache;
  try {
    const m = /^Max open files\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    maxFdsCache = m === null ? null : Number(m[1]);
  } catch {
    maxFdsCache = null;
  }
  return maxFdsCache;
}
