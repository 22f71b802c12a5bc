/**
 * The broker's own cost per published message, in process, without sockets: publish through the
 * default exchange into one queue, then purge it, in rounds.
 *
 *   npm run bench:build && node bench/dist/bench/micro/broker-publish.js [--messages 200000] [--runs 5]
 *       [--broker path/to/dist/src/broker/broker.js,this]
 *
 * Several builds (`this` is this one) are interleaved run by run in one process, so a change to
 * the publish path (decode → route → enqueue) is measured against the build before it under the
 * same load. Prints CPU ns/msg (user + system) per build: the best run, and the range.
 */
interface BrokerLike {
  declareQueue(name: string, options: object, passive: boolean, session: null): unknown;
  publish(exchange: string, key: string, content: Buffer, persistent: boolean, priority: number, expiration: number): unknown;
  purgeQueue(name: string, session: null): number;
}
type BrokerCtor = new () => BrokerLike;

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? fallback) : fallback;
}

const N = Number(arg('messages', '200000'));
const RUNS = Number(arg('runs', '5'));
const own = new URL('../../src/broker/broker.js', import.meta.url).pathname;
const paths = arg('broker', own).split(',').map((p) => (p === 'this' ? own : p));

// A stored message: 4-byte props size, then the body (128 B).
const content = Buffer.alloc(132);
content.writeUInt32BE(0, 0);

function once(B: BrokerCtor): number {
  const b = new B();
  b.declareQueue('q', { durable: false, exclusive: false, autoDelete: false, arguments: {} }, false, null);
  const start = process.cpuUsage();
  for (let i = 0; i < N; i++) {
    b.publish('', 'q', content, false, 0, 0);
    if ((i & 4095) === 4095) b.purgeQueue('q', null);
  }
  b.purgeQueue('q', null);
  const used = process.cpuUsage(start);
  return ((used.user + used.system) * 1000) / N;
}

const builds: { path: string; B: BrokerCtor; ns: number[] }[] = [];
for (const p of paths) builds.push({ path: p, B: ((await import(p)) as { Broker: BrokerCtor }).Broker, ns: [] });
for (const b of builds) once(b.B); // warm up
for (let r = 0; r < RUNS; r++) for (const b of builds) b.ns.push(once(b.B));
for (const b of builds) {
  const best = Math.min(...b.ns);
  console.log(`${b.path === own ? 'this' : b.path}: ${best.toFixed(0)} ns/msg best of ${RUNS} (${Math.min(...b.ns).toFixed(0)}–${Math.max(...b.ns).toFixed(0)})`);
}
