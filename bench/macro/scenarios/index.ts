import type { Scenario } from '../scenario.js';
import { backlog } from './backlog.js';
import { delayed } from './delayed.js';
import { durable } from './durable.js';
import { fanout, wsfanout } from './fanout.js';
import { http } from './http.js';
import { latency } from './latency.js';
import { memory } from './memory.js';
import { queues } from './queues.js';
import { recovery } from './recovery.js';
import { restore } from './restore.js';
import { streams } from './streams.js';
import { throughput } from './throughput.js';

/** Every scenario, in the order `bench:all` runs them. */
export const SCENARIOS: readonly Scenario[] = [throughput, latency, queues, fanout, wsfanout, durable, restore, memory, recovery, http, backlog, streams, delayed];

export function scenarioByName(name: string): Scenario | undefined {
  return SCENARIOS.find((s) => s.name === name);
}
