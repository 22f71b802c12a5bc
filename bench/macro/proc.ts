import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';

/** Linux clock ticks per second for /proc/<pid>/stat times (sysconf(_SC_CLK_TCK), 100 on every mainstream kernel). */
const CLK_TCK = 100;

/** CPU time (user + system) of a process in ms, from /proc/<pid>/stat; null once it is gone. */
export function cpuMs(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 2 (comm) may contain spaces: split after its closing parenthesis.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const utime = Number(rest[11]);
    const stime = Number(rest[12]);
    return ((utime + stime) * 1000) / CLK_TCK;
  } catch {
    return null;
  }
}

/** Resident set size in bytes from /proc/<pid>/status; null once it is gone. */
export function rssBytes(pid: number): number | null {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m === null ? null : Number(m[1]) * 1024;
  } catch {
    return null;
  }
}

/** Direct children of a process. */
export function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const tid of safeReaddir(`/proc/${pid}/task`)) {
    try {
      for (const c of readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim().split(/\s+/)) {
        if (c !== '') out.push(Number(c));
      }
    } catch {
      // the task ended while we looked
    }
  }
  return out;
}

/** The command name of a process (`comm`), or null. */
export function commOf(pid: number): string | null {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return null;
  }
}

/** The command line of a process, arguments joined by spaces ('' once it is gone). */
export function cmdlineOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
  } catch {
    return '';
  }
}

/** Finds, among `root` and its descendants (breadth first), the first process that matches. */
export function findDescendant(root: number, match: (pid: number) => boolean): number | null {
  const todo = [root];
  while (todo.length > 0) {
    const pid = todo.shift() as number;
    if (match(pid)) return pid;
    todo.push(...childrenOf(pid));
  }
  return null;
}

/** The pid listening on a 127.0.0.1/0.0.0.0 TCP port (for `--url` runs against a broker we did not start). */
export function pidListeningOn(port: number): number | null {
  const inodes = new Set<string>();
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      const local = f[1];
      if (local === undefined || f[3] !== '0A') continue;
      if (parseInt(local.split(':')[1] ?? '', 16) === port && f[9] !== undefined) inodes.add(f[9]);
    }
  }
  if (inodes.size === 0) return null;
  for (const p of safeReaddir('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    for (const fd of safeReaddir(`/proc/${p}/fd`)) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${p}/fd/${fd}`));
        if (m !== null && inodes.has(m[1] as string)) return Number(p);
      } catch {
        // fd closed meanwhile
      }
    }
  }
  return null;
}

function safeReaddir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/** A free TCP port on 127.0.0.1 (bound and released; a tiny race we accept for a bench). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/** CPU and peak RSS of one process over a measurement window. */
export interface ProcessUsage {
  /** CPU used in the window as % of one core. */
  cpuPercent: number;
  /** Highest RSS seen in the window, bytes. */
  peakRss: number;
  /** RSS at the end of the window, bytes. */
  endRss: number;
}

/** Samples a process's RSS every `everyMs` and its CPU time at the window's ends. */
export class UsageSampler {
  private readonly pid: number;
  private startCpu = 0;
  private startAt = 0;
  private peak = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(pid: number) {
    this.pid = pid;
  }

  start(everyMs = 200): void {
    this.startCpu = cpuMs(this.pid) ?? 0;
    this.startAt = performance.now();
    this.peak = rssBytes(this.pid) ?? 0;
    this.timer = setInterval(() => {
      const r = rssBytes(this.pid);
      if (r !== null && r > this.peak) this.peak = r;
    }, everyMs);
    this.timer.unref();
  }

  stop(): ProcessUsage {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    const wallMs = performance.now() - this.startAt;
    const cpu = (cpuMs(this.pid) ?? this.startCpu) - this.startCpu;
    const end = rssBytes(this.pid) ?? 0;
    return { cpuPercent: wallMs > 0 ? (100 * cpu) / wallMs : 0, peakRss: Math.max(this.peak, end), endRss: end };
  }
}
