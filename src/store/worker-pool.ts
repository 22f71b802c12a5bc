import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { StoreError, fromErrorData } from './errors.js';
import type { FromWorker, ShardSummary, ToWorker, WorkerSetup } from './wire.js';

/** How long a closing worker may take to finish its last transaction before it is terminated. */
const CLOSE_TIMEOUT_MS = 10_000;
const RESPAWN_DELAY_MS = 200;

function workerUrl(): URL {
  const here = new URL('./sync-worker.js', import.meta.url);
  if (existsSync(fileURLToPath(here))) return here;
  // Loaded from TypeScript sources (vitest): workers need JavaScript, so use `npm run build`'s.
  return new URL('../../dist/src/store/sync-worker.js', import.meta.url);
}

export interface PoolEvents {
  message(worker: number, m: FromWorker): void;
  /** A worker died after starting; anything it had in flight is lost and must be resent. */
  lost(worker: number, error: StoreError): void;
  /** A replacement for a lost worker is ready. */
  restored(worker: number): void;
}

interface Slot {
  readonly setup: WorkerSetup;
  worker: Worker | null;
  ready: boolean;
  closing: boolean;
}

/**
 * The bounded pool of sync workers. Each worker owns a fixed set of files for its whole life; a
 * worker that dies is replaced by one that reopens the same files, and the store resends what
 * was in flight.
 */
export class WorkerPool {
  private readonly slots: Slot[];
  private readonly events: PoolEvents;
  private closed = false;

  constructor(setups: WorkerSetup[], events: PoolEvents) {
    this.slots = setups.map((setup) => ({ setup, worker: null, ready: false, closing: false }));
    this.events = events;
  }

  get size(): number {
    return this.slots.length;
  }

  /** Starts every worker; resolves with what they found, or rejects with the first refusal. */
  async start(): Promise<{ shards: ShardSummary[]; topologyCreated: boolean; delayedCreated: boolean }> {
    const results = await Promise.allSettled(this.slots.map((_, i) => this.spawn(i)));
    const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failure !== undefined) {
      await this.close();
      throw failure.reason;
    }
    const ok = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    return { shards: ok.flatMap((r) => r.shards), topologyCreated: ok.some((r) => r.topologyCreated), delayedCreated: ok.some((r) => r.delayedCreated) };
  }

  private spawn(i: number, replacement = false): Promise<{ shards: ShardSummary[]; topologyCreated: boolean; delayedCreated: boolean }> {
    const slot = this.slots[i] as Slot;
    // Injected faults hit a worker's first life only, or a crash fault would recur forever.
    const setup = replacement ? { ...slot.setup, failWrites: null } : slot.setup;
    const w = new Worker(workerUrl(), { workerData: setup });
    slot.worker = w;
    return new Promise((resolve, reject) => {
      let phase: 'starting' | 'running' | 'refused' = 'starting';
      const refuse = (err: StoreError): void => {
        phase = 'refused';
        if (slot.worker === w) slot.worker = null;
        void w.terminate();
        reject(err);
      };
      w.on('message', (m: FromWorker) => {
        if (phase === 'running') this.events.message(i, m);
        else if (phase === 'starting' && m.t === 'ready') {
          phase = 'running';
          slot.ready = true;
          resolve({ shards: m.shards, topologyCreated: m.topologyCreated, delayedCreated: m.delayedCreated });
        } else if (phase === 'starting' && m.t === 'fatal') refuse(fromErrorData(m.error));
      });
      w.on('error', (err) => {
        const why = `sync worker ${i} ${phase === 'starting' ? 'failed to start' : 'died'}: ${err.message}`;
        if (phase === 'starting') refuse(new StoreError('ERR_STORE_WORKER', why, { cause: err }));
        else if (phase === 'running') this.lose(i, w, new StoreError('ERR_STORE_WORKER', why, { cause: err }));
      });
      w.on('exit', (code) => {
        if (phase === 'starting') refuse(new StoreError('ERR_STORE_WORKER', `sync worker ${i} exited with code ${code} while starting`));
        else if (phase === 'running' && !slot.closing) this.lose(i, w, new StoreError('ERR_STORE_WORKER', `sync worker ${i} exited with code ${code}`));
      });
    });
  }

  private lose(i: number, w: Worker, error: StoreError): void {
    const slot = this.slots[i] as Slot;
    if (slot.worker !== w) return;
    slot.worker = null;
    slot.ready = false;
    void w.terminate();
    this.events.lost(i, error);
    this.respawnLater(i);
  }

  private respawnLater(i: number): void {
    if (this.closed) return;
    setTimeout(() => {
      if (this.closed) return;
      this.spawn(i, true).then(
        () => this.events.restored(i),
        (err: unknown) => {
          const e = err instanceof StoreError ? err : new StoreError('ERR_STORE_WORKER', String(err));
          this.events.lost(i, e);
          this.respawnLater(i);
        },
      );
    }, RESPAWN_DELAY_MS).unref();
  }

  /** Whether worker `i` can take work now (false while it is being replaced). */
  ready(i: number): boolean {
    return (this.slots[i] as Slot).ready;
  }

  post(i: number, m: ToWorker, transfer?: ArrayBuffer[]): void {
    const slot = this.slots[i] as Slot;
    if (!slot.ready || slot.worker === null) return;
    slot.worker.postMessage(m, transfer);
  }

  /** Closes every worker: each finishes what it has, closes its files and exits. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(
      this.slots.map(async (slot) => {
        const w = slot.worker;
        if (w === null) return;
        slot.closing = true;
        slot.ready = false;
        const exited = new Promise<void>((resolve) => w.once('exit', () => resolve()));
        w.postMessage({ t: 'close' } satisfies ToWorker);
        const timer = setTimeout(() => void w.terminate(), CLOSE_TIMEOUT_MS);
        await exited;
        clearTimeout(timer);
        slot.worker = null;
      }),
    );
  }
}
