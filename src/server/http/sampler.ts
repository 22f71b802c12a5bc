import type { Channel } from '../../broker/channel.js';
import { ChannelTotals } from '../../broker/channel-totals.js';
import type { Exchange } from '../../broker/exchange/exchange.js';
import type { Queue } from '../../broker/queue.js';
import type { HttpHost } from './host.js';

/**
 * What each kind of object counts, in the order its {@link Meter} keeps them. Counters are the
 * plain integers the broker increments on its hot path; depths (`messages`, …) are read the same
 * way, and their rate is how fast the queue grows (negative while it drains).
 */
export const QUEUE_FIELDS = ['publish', 'deliver', 'deliver_no_ack', 'get', 'get_no_ack', 'deliver_get', 'ack', 'redeliver', 'messages', 'messages_ready', 'messages_unacknowledged'] as const;
export const EXCHANGE_FIELDS = ['publish_in', 'publish_out'] as const;
export const CHANNEL_FIELDS = ['publish', 'confirm', 'return_unroutable', 'drop_unroutable', 'deliver', 'deliver_no_ack', 'get', 'get_no_ack', 'get_empty', 'deliver_get', 'ack', 'redeliver'] as const;
export const CONNECTION_FIELDS = ['recv_oct', 'send_oct'] as const;
/** The overview's: every channel statistic, broker-wide, plus queue depths. */
export const GLOBAL_FIELDS = [...CHANNEL_FIELDS, 'messages', 'messages_ready', 'messages_unacknowledged'] as const;

export type GlobalField = (typeof GLOBAL_FIELDS)[number];

/** The last two readings of one object's counters and the rates between them. */
export class Meter {
  at: number;
  readonly values: Float64Array;
  readonly rates: Float64Array;
  /** For queues: since when nothing has moved (ms since the epoch), or null while busy. */
  idleSince: number | null = null;

  constructor(at: number, values: Float64Array) {
    this.at = at;
    this.values = values;
    this.rates = new Float64Array(values.length);
  }

  /** Takes a new reading; returns true when any counter moved. */
  update(at: number, values: Float64Array): boolean {
    const dt = (at - this.at) / 1000;
    let moved = false;
    for (let i = 0; i < values.length; i++) {
      const d = (values[i] as number) - (this.values[i] as number);
      if (d !== 0) moved = true;
      this.rates[i] = dt > 0 ? d / dt : 0;
      this.values[i] = values[i] as number;
    }
    this.at = at;
    return moved;
  }

  rate(index: number): number {
    return this.rates[index] ?? 0;
  }
}

/** One point of the overview's history: counter values and the rates since the point before. */
export interface GlobalSample {
  at: number;
  values: Float64Array;
  rates: Float64Array;
}

/** Message statistics over every vhost: channels that closed plus the open ones, read now. */
export function globalTotals(host: HttpHost): ChannelTotals {
  const t = new ChannelTotals();
  for (const v of host.vhostNames()) {
    const broker = host.vhost(v);
    if (broker === undefined) continue;
    t.addTotals(broker.closedChannels);
    for (const s of broker.sessions.values()) for (const ch of s.channels.values()) t.add(ch);
  }
  return t;
}

export function queueValues(q: Queue, out = new Float64Array(QUEUE_FIELDS.length)): Float64Array {
  const ready = q.messageCount;
  out[0] = q.publishedTotal;
  out[1] = q.deliveredTotal - q.deliverNoAckTotal - q.getTotal - q.getNoAckTotal;
  out[2] = q.deliverNoAckTotal;
  out[3] = q.getTotal;
  out[4] = q.getNoAckTotal;
  out[5] = q.deliveredTotal;
  out[6] = q.ackTotal;
  out[7] = q.redeliverTotal;
  // A stream's unacked deliveries are still in it (consuming removes nothing).
  out[8] = q.isStream ? ready : ready + q.unackedCount;
  out[9] = ready;
  out[10] = q.unackedCount;
  return out;
}

export function channelValues(t: ChannelTotals, out = new Float64Array(CHANNEL_FIELDS.length)): Float64Array {
  out[0] = t.publish;
  out[1] = t.confirm;
  out[2] = t.returnUnroutable;
  out[3] = t.dropUnroutable;
  out[4] = t.deliver;
  out[5] = t.deliverNoAck;
  out[6] = t.get;
  out[7] = t.getNoAck;
  out[8] = t.getEmpty;
  out[9] = t.deliverGet;
  out[10] = t.ack;
  out[11] = t.redeliver;
  return out;
}

/** Ready and unacked messages over every queue of every vhost. */
export function queueDepths(host: HttpHost): { ready: number; unacked: number } {
  let ready = 0;
  let unacked = 0;
  for (const v of host.vhostNames()) {
    const b = host.vhost(v);
    if (b === undefined) continue;
    for (const q of b.queues.values()) {
      ready += q.messageCount;
      unacked += q.unackedCount;
    }
  }
  return { ready, unacked };
}

/** Broker-wide counters and queue depths now, in {@link GLOBAL_FIELDS} order. */
export function globalValues(host: HttpHost): Float64Array {
  const values = new Float64Array(GLOBAL_FIELDS.length);
  channelValues(globalTotals(host), values);
  const depth = queueDepths(host);
  values[CHANNEL_FIELDS.length] = depth.ready + depth.unacked;
  values[CHANNEL_FIELDS.length + 1] = depth.ready;
  values[CHANNEL_FIELDS.length + 2] = depth.unacked;
  return values;
}

/**
 * Turns counters into rates: every `intervalMs` it reads each queue's, exchange's, channel's and
 * connection's counters, keeps the last reading and the rate since the one before (per object,
 * dropped with the object), and a bounded history of broker-wide samples for the overview
 * (LavinMQ's stats loop: 5 s × 120 samples by default). The hot path only increments integers;
 * all the arithmetic is here, off it.
 */
export class StatsSampler {
  readonly intervalMs: number;
  readonly capacity: number;
  private readonly host: HttpHost;
  private readonly queues = new WeakMap<Queue, Meter>();
  private readonly exchanges = new WeakMap<Exchange, Meter>();
  private readonly channels = new WeakMap<Channel, Meter>();
  private connections = new Map<string, Meter>();
  /** Oldest first; at most `capacity`. */
  private readonly history: GlobalSample[] = [];
  private timer: NodeJS.Timeout | null = null;
  private readonly scratch = new Float64Array(GLOBAL_FIELDS.length);

  constructor(host: HttpHost, intervalMs: number, capacity: number) {
    this.host = host;
    this.intervalMs = intervalMs;
    this.capacity = capacity;
  }

  start(): void {
    this.sample();
    this.timer = setInterval(() => this.sample(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  /** Reads every counter now. Public so a test (or a caller that needs fresh rates) can force it. */
  sample(now = Date.now()): void {
    const host = this.host;
    for (const v of host.vhostNames()) {
      const broker = host.vhost(v);
      if (broker === undefined) continue;
      for (const q of broker.queues.values()) this.sampleQueue(q, now);
      for (const x of broker.exchanges.values()) {
        const values = this.scratch.subarray(0, EXCHANGE_FIELDS.length);
        values[0] = x.publishInTotal;
        values[1] = x.publishOutTotal;
        this.track(this.exchanges, x, now, values);
      }
      for (const s of broker.sessions.values()) {
        for (const ch of s.channels.values()) {
          this.track(this.channels, ch, now, channelValues(new ChannelTotals().add(ch), this.scratch.subarray(0, CHANNEL_FIELDS.length)));
        }
      }
    }
    const live = new Map<string, Meter>();
    for (const c of host.connections.list()) {
      const values = this.scratch.subarray(0, CONNECTION_FIELDS.length);
      values[0] = c.bytesIn;
      values[1] = c.bytesOut;
      const m = this.connections.get(c.id);
      if (m === undefined) live.set(c.id, new Meter(now, values.slice()));
      else {
        m.update(now, values);
        live.set(c.id, m);
      }
    }
    this.connections = live;
    this.sampleGlobal(now);
  }

  private sampleQueue(q: Queue, now: number): void {
    const values = queueValues(q, this.scratch.subarray(0, QUEUE_FIELDS.length));
    const m = this.queues.get(q);
    if (m === undefined) {
      const fresh = new Meter(now, values.slice());
      fresh.idleSince = now;
      this.queues.set(q, fresh);
      return;
    }
    const before = m.at;
    // Activity is publishes, deliveries and acks; depth alone (a TTL expiring) is not use.
    const moved = m.values[0] !== values[0] || m.values[5] !== values[5] || m.values[6] !== values[6];
    m.update(now, values);
    if (moved) m.idleSince = null;
    else m.idleSince ??= before;
  }

  private track<K extends object>(map: WeakMap<K, Meter>, key: K, now: number, values: Float64Array): void {
    const m = map.get(key);
    if (m === undefined) map.set(key, new Meter(now, values.slice()));
    else m.update(now, values);
  }

  private sampleGlobal(now: number): void {
    const values = globalValues(this.host);
    const last = this.history[this.history.length - 1];
    const rates = new Float64Array(GLOBAL_FIELDS.length);
    if (last !== undefined && now > last.at) {
      const dt = (now - last.at) / 1000;
      for (let i = 0; i < values.length; i++) rates[i] = ((values[i] as number) - (last.values[i] as number)) / dt;
    }
    // At most a few hundred small entries, pushed every few seconds: shifting costs nothing.
    this.history.push({ at: now, values, rates });
    if (this.history.length > this.capacity) this.history.shift();
  }

  queue(q: Queue): Meter | undefined {
    return this.queues.get(q);
  }

  exchange(x: Exchange): Meter | undefined {
    return this.exchanges.get(x);
  }

  channel(ch: Channel): Meter | undefined {
    return this.channels.get(ch);
  }

  connection(id: string): Meter | undefined {
    return this.connections.get(id);
  }

  /** The broker-wide samples, oldest first. */
  samples(): readonly GlobalSample[] {
    return this.history;
  }

  /** The latest broker-wide rates (zeros before the second sample). */
  globalRate(field: GlobalField): number {
    const last = this.history[this.history.length - 1];
    return last === undefined ? 0 : (last.rates[GLOBAL_FIELDS.indexOf(field)] ?? 0);
  }
}
