import { statfs } from 'node:fs/promises';
import type { Logger } from '../log/logger.js';

/** RabbitMQ's default `disk_free_limit`: 50 MB. */
export const DEFAULT_DISK_FREE_LIMIT = 50_000_000;

/** How often free space is read. statfs is one cheap system call; RabbitMQ checks every 10 s. */
export const DISK_CHECK_INTERVAL_MS = 5000;

export interface DiskAlarmOptions {
  /** The directory whose file system is watched: the store's data directory. */
  dir: string;
  /** Free bytes below which the alarm is raised (`disk_free_limit`); 0 = never. */
  limitBytes: number;
  /** Raised or cleared: the daemon blocks or unblocks publishers (`broker.setAlarm('disk', …)`). */
  onChange(raised: boolean): void;
  log: Logger;
  intervalMs?: number;
}

/**
 * Watches the free space of the disk that holds the store and raises an alarm when it falls
 * under `disk_free_limit`, as RabbitMQ's disk monitor does: a broker that fills its disk can no
 * longer write checkpoints, so publishers are stopped before that happens. Space available to
 * unprivileged users counts (statfs `bavail`), since that is what the daemon can write.
 */
export class DiskAlarm {
  /** Free bytes at the last check; null before the first or when it cannot be read. */
  freeBytes: number | null = null;
  raised = false;
  readonly limitBytes: number;
  private timer: NodeJS.Timeout | null = null;
  private failed = false;
  private readonly options: DiskAlarmOptions;

  constructor(options: DiskAlarmOptions) {
    this.options = options;
    this.limitBytes = options.limitBytes;
  }

  /** Takes the first reading (so the alarm is in force before clients connect), then keeps watching. */
  async start(): Promise<void> {
    await this.check();
    this.timer = setInterval(() => void this.check(), this.options.intervalMs ?? DISK_CHECK_INTERVAL_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  private async check(): Promise<void> {
    const { dir, limitBytes, log } = this.options;
    try {
      const s = await statfs(dir);
      this.freeBytes = s.bavail * s.bsize;
      this.failed = false;
    } catch (err) {
      // A reading that fails leaves the alarm as it was: guessing either way is worse.
      if (!this.failed) log.error({ err, dir }, 'cannot read free disk space');
      this.failed = true;
      this.freeBytes = null;
      return;
    }
    const raise = limitBytes > 0 && this.freeBytes < limitBytes;
    if (raise === this.raised) return;
    this.raised = raise;
    if (raise) log.warn({ freeBytes: this.freeBytes, diskFreeLimit: limitBytes, dir }, 'disk alarm: free space below disk_free_limit');
    else log.warn({ freeBytes: this.freeBytes, diskFreeLimit: limitBytes, dir }, 'disk alarm cleared');
    this.options.onChange(raise);
  }
}
