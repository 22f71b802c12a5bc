/** What a load-generator agent process is asked to do, and the IPC messages between it and the harness. */

import type { BrokerKind } from './driver.js';

export interface PublisherRole {
  kind: 'publisher';
  /** Publishers in this agent, each on its own connection. */
  count: number;
  exchange: string;
  /** Routing keys; each publisher cycles through them. */
  keys: string[];
  bodySize: number;
  /** Messages per second per publisher; 0 = as fast as the broker takes them. */
  rate: number;
  persistent: boolean;
  confirm: boolean;
  /** Confirm mode: the most unconfirmed messages a publisher keeps in flight. */
  maxOutstanding: number;
  /** Stop after this many messages per publisher; 0 = run until told to stop. */
  limit: number;
}

export interface ConsumerRole {
  kind: 'consumer';
  /** One consumer per queue. `route` is the NATS subject standing in for the queue. */
  queues: { name: string; route: string }[];
  /** Consumers sharing one connection (1 = every consumer on its own connection). */
  perConnection: number;
  noAck: boolean;
  prefetch: number;
  /** Connect the consumers here instead of the broker's URL (its WebSocket endpoint). */
  url?: string;
}

/** Connections that only connect and sit there (the memory scenario). */
export interface IdleRole {
  kind: 'idle';
  connections: number;
}

export type Role = PublisherRole | ConsumerRole | IdleRole;

/** One agent's counters for the measurement window (and totals since it started). */
export interface AgentReport {
  published: number;
  received: number;
  confirmed: number;
  publishedTotal: number;
  receivedTotal: number;
  confirmedTotal: number;
  /** Latency of the window's deliveries, hdr-histogram compressed base64 ('' when none). */
  histogram: string;
  /** CPU the agent used in the window, ms, and the window's length. */
  cpuMs: number;
  windowMs: number;
  connections: number;
  connectionsOpen: number;
  errors: string[];
}

export type ToAgent =
  | { t: 'init'; broker: BrokerKind; url: string; roles: Role[] }
  | { t: 'go' }
  | { t: 'mark' }
  | { t: 'pause' }
  | { t: 'resume' }
  | { t: 'stop' }
  | { t: 'report' }
  | { t: 'close' };

export type FromAgent =
  | { t: 'ready'; connections: number }
  | { t: 'progress'; publishedTotal: number; receivedTotal: number; confirmedTotal: number }
  | { t: 'stopped' }
  | { t: 'done' }
  | { t: 'report'; report: AgentReport }
  | { t: 'closed' }
  | { t: 'failed'; message: string };
