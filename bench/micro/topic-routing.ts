/**
 * Topic routing with 10,000 bindings (issue: "routing must stay fast with many bindings").
 *
 *   npm run build && node dist/bench/micro/topic-routing.js [--seconds 1]
 *
 * Cases: the trie answering repeated routing keys (cache hits), the trie on keys it has not
 * seen (cache misses: every lookup walks the trie), a naive scan of every binding with a
 * compiled regex per binding (what the trie avoids), and a full in-process `broker.publish`
 * through the topic exchange into queues. Prints one line per case and a JSON summary.
 */
import { Broker } from '../../src/broker/broker.js';
import type { Exchange } from '../../src/broker/exchange/exchange.js';
import { makeContent } from '../../src/broker/message.js';

const BINDINGS = 10_000;
const QUEUES = 100;
const seconds = Number(process.argv[process.argv.indexOf('--seconds') + 1] || 1);

const VENUES = ['nasdaq', 'nyse', 'lse', 'xetra', 'tse'];
const KINDS = ['trade', 'quote', 'book'];

/** Binding keys: mostly exact-ish per-symbol subscriptions with a few wide wildcards. */
function bindingKeys(): string[] {
  const keys: string[] = [];
  for (let i = 0; keys.length < BINDINGS - 4; i++) {
    const venue = VENUES[i % VENUES.length] as string;
    const sym = `s${i}`;
    keys.push(i % 10 === 0 ? `${venue}.${sym}.#` : `${venue}.${sym}.*`);
  }
  keys.push('#.trade', '*.s42.*', 'nasdaq.#', 'audit.#');
  return keys;
}

function routingKey(i: number): string {
  return `${VENUES[i % VENUES.length] as string}.s${i % (BINDINGS * 2)}.${KINDS[i % KINDS.length] as string}`;
}

function measure(name: string, fn: (i: number) => number): { name: string; opsPerSec: number; nsPerOp: number } {
  let sink = 0;
  // Warm-up: up to 20,000 calls or 0.2 s, whichever comes first (the naive scan is slow).
  const warm = process.hrtime.bigint() + 200_000_000n;
  for (let i = 0; i < 20_000 && (i % 100 !== 0 || process.hrtime.bigint() < warm); i++) sink += fn(i);
  const end = process.hrtime.bigint() + BigInt(Math.round(seconds * 1e9));
  const start = process.hrtime.bigint();
  let n = 0;
  let now = start;
  while (now < end) {
    for (let k = 0; k < 1000; k++) sink += fn(n++);
    now = process.hrtime.bigint();
  }
  const ns = Number(now - start);
  const r = { name, opsPerSec: Math.round((n / ns) * 1e9), nsPerOp: Math.round((ns / n) * 10) / 10 };
  console.log(`${name.padEnd(44)} ${String(r.opsPerSec).padStart(11)} ops/s ${String(r.nsPerOp).padStart(9)} ns/op  (matched ${sink})`);
  return r;
}

/** RabbitMQ's topic rules as a regex: the reference a naive broker would scan with. */
function toRegex(key: string): RegExp {
  if (key === '#') return /^.*$/;
  const parts = key.split('.').map((w) => (w === '*' ? '[^.]*' : w === '#' ? '#' : w.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
  let src = parts.join('\\.');
  src = src.replace(/^#\\\./, '(?:[^.]*\\.)*').replace(/\\\.#$/, '(?:\\.[^.]*)*').replace(/\\\.#\\\./g, '(?:\\.[^.]*)*\\.');
  return new RegExp(`^${src}$`);
}

const broker = new Broker();
broker.declareExchange('market', 'topic', { durable: false, autoDelete: false, internal: false, arguments: {} }, false);
for (let q = 0; q < QUEUES; q++) broker.declareQueue(`q${q}`, { durable: false, exclusive: false, autoDelete: false, arguments: {} }, false, null);
const keys = bindingKeys();
keys.forEach((k, i) => broker.bind(`q${i % QUEUES}`, 'market', k, {}, null));
const exchange = broker.exchanges.get('market') as Exchange;
const content = makeContent(null, Buffer.from('tick'));
const count = (it: Iterable<unknown>): number => {
  let n = 0;
  for (const _ of it) n++;
  return n;
};

console.log(`topic routing: ${keys.length} bindings over ${QUEUES} queues, ${seconds}s per case, node ${process.version}`);
const results = [
  measure('trie, 64 hot keys (cache hits)', (i) => count(exchange.route(routingKey(i % 64), content))),
  measure('trie, 20k distinct keys (cache misses)', (i) => count(exchange.route(routingKey(i * 7919), content))),
  (() => {
    const rules = keys.map(toRegex);
    return measure('naive scan of every binding (regex each)', (i) => {
      const rk = routingKey(i * 7919);
      let n = 0;
      for (const r of rules) if (r.test(rk)) n++;
      return n;
    });
  })(),
  measure('broker.publish via topic exchange (misses)', (i) => {
    const r = broker.publish('market', routingKey(i * 7919), content, false, 0, 0).routed;
    if ((i & 0x3fff) === 0) for (const q of broker.queues.values()) q.purge();
    return r;
  }),
];
console.log(JSON.stringify({ bench: 'topic-routing', bindings: keys.length, queues: QUEUES, results }));
