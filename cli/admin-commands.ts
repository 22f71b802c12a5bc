import { readFileSync, writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { ADMIN_LIST_KINDS, blockReason, isAdminListKind, type AdminListRows, type PolicyRow, type QueueRow, type StoreStatus, type ClusterStatus } from '../protocol/index.js';
import {
  Admin,
  definitionsCount,
  exportDefinitions,
  importDefinitions,
  parseDefinitions,
  type ServerStatus,
} from '../src/client/index.js';
import { usageError } from './exit.js';
import { formatBytes, formatCount, formatDuration, formatTable, printJson, println, type Column, type Io } from './io.js';
import { Progress } from './progress.js';
import { addTargetOptions, targetVhost, withConnection, type TargetOptions } from './target.js';

const yes = (b: boolean): string => (b ? 'yes' : '');
const flags = (pairs: [boolean, string][]): string => pairs.filter(([on]) => on).map(([, f]) => f).join(',');

const POLICY_COLUMNS: Column<PolicyRow>[] = [
  { header: 'vhost', value: (p) => p.vhost },
  { header: 'name', value: (p) => p.name },
  { header: 'pattern', value: (p) => p.pattern },
  { header: 'apply-to', value: (p) => p['apply-to'] },
  { header: 'definition', value: (p) => JSON.stringify(p.definition) },
  { header: 'priority', value: (p) => p.priority },
];

/** The table columns of each listing; `--json` prints the rows as they came. */
/** A listing's columns; the queue listing shows stream offsets only when there is a stream. */
function columnsFor(what: keyof AdminListRows, rows: readonly unknown[]): Column<never>[] {
  const all = COLUMNS[what] as Column<never>[];
  if (what !== 'queues' || (rows as QueueRow[]).some((q) => q.type === 'stream')) return all;
  return all.filter((c) => c.header !== 'offsets');
}

const COLUMNS: { [K in keyof AdminListRows]: Column<AdminListRows[K]>[] } = {
  exchanges: [
    { header: 'name', value: (x) => (x.name === '' ? '(default)' : x.name) },
    { header: 'type', value: (x) => x.type },
    { header: 'durable', value: (x) => yes(x.durable) },
    { header: 'flags', value: (x) => flags([[x.autoDelete, 'auto-delete'], [x.internal, 'internal']]) },
    { header: 'bindings', value: (x) => x.bindings },
    { header: 'delayed', value: (x) => x.messagesDelayed ?? '' },
  ],
  queues: [
    { header: 'name', value: (q) => q.name },
    { header: 'durable', value: (q) => yes(q.durable) },
    { header: 'flags', value: (q) => flags([[q.type === 'stream', 'stream'], [q.exclusive, 'exclusive'], [q.autoDelete, 'auto-delete']]) },
    { header: 'ready', value: (q) => q.messagesReady },
    { header: 'unacked', value: (q) => q.messagesUnacked },
    { header: 'consumers', value: (q) => q.consumers },
    { header: 'bytes', value: (q) => formatBytes(q.readyBytes) },
    { header: 'offsets', value: (q) => (q.stream === null || q.stream === undefined ? '' : q.stream.lastOffset < q.stream.firstOffset ? `${q.stream.firstOffset}..` : `${q.stream.firstOffset}..${q.stream.lastOffset}`) },
  ],
  bindings: [
    { header: 'source', value: (b) => b.source },
    { header: 'destination', value: (b) => b.destination },
    { header: 'type', value: (b) => b.destinationType },
    { header: 'routing key', value: (b) => b.routingKey },
  ],
  connections: [
    { header: 'id', value: (c) => c.id },
    { header: 'protocol', value: (c) => c.protocol },
    { header: 'user', value: (c) => c.user },
    { header: 'vhost', value: (c) => c.vhost },
    { header: 'peer', value: (c) => c.peer },
    { header: 'channels', value: (c) => c.channels },
    { header: 'publishes', value: (c) => c.publishes },
    { header: 'since', value: (c) => new Date(c.connectedAt).toISOString().replace('T', ' ').slice(0, 19) },
    { header: 'name', value: (c) => c.name },
  ],
  consumers: [
    { header: 'queue', value: (c) => c.queue },
    { header: 'tag', value: (c) => c.tag },
    { header: 'connection', value: (c) => c.connection },
    { header: 'channel', value: (c) => c.channel },
    { header: 'ack', value: (c) => (c.noAck ? 'auto' : 'manual') },
    { header: 'prefetch', value: (c) => c.prefetch },
    { header: 'unacked', value: (c) => c.unacked },
  ],
  permissions: [
    { header: 'user', value: (p) => p.user },
    { header: 'vhost', value: (p) => p.vhost },
    { header: 'configure', value: (p) => p.configure },
    { header: 'write', value: (p) => p.write },
    { header: 'read', value: (p) => p.read },
  ],
  'topic-permissions': [
    { header: 'user', value: (p) => p.user },
    { header: 'vhost', value: (p) => p.vhost },
    { header: 'exchange', value: (p) => p.exchange },
    { header: 'write', value: (p) => p.write },
    { header: 'read', value: (p) => p.read },
  ],
  policies: POLICY_COLUMNS,
  'operator-policies': POLICY_COLUMNS,
  vhosts: [
    { header: 'name', value: (v) => v.name },
    { header: 'description', value: (v) => v.description },
    { header: 'tags', value: (v) => v.tags.join(',') },
    { header: 'exchanges', value: (v) => v.exchanges },
    { header: 'queues', value: (v) => v.queues },
    { header: 'connections', value: (v) => v.connections },
  ],
  'vhost-limits': [
    { header: 'vhost', value: (l) => l.name },
    { header: 'limits', value: (l) => JSON.stringify(l.value) },
  ],
  'user-limits': [
    { header: 'user', value: (l) => l.name },
    { header: 'limits', value: (l) => JSON.stringify(l.value) },
  ],
  users: [
    { header: 'name', value: (u) => u.name },
    { header: 'tags', value: (u) => u.tags.join(',') },
    { header: 'source', value: (u) => u.source },
  ],
};

function statusLines(s: ServerStatus): string {
  const m = s.memory;
  const watermark = m.highWatermark === 0 ? 'no watermark' : `watermark ${formatBytes(m.highWatermark)}`;
  const rows: [string, string][] = [
    ['version', `${s.version} (Node.js ${s.node}, pid ${s.pid})`],
    ['uptime', formatDuration(s.uptimeMs)],
    ['connections', formatCount(s.connections)],
    ['channels', formatCount(s.channels)],
    ['consumers', formatCount(s.consumers)],
    ['exchanges', formatCount(s.exchanges)],
    ['queues', formatCount(s.queues)],
    ['messages', `${formatCount(s.messagesReady)} ready, ${formatCount(s.messagesUnacked)} unacked`],
    ['publish rate', `${formatCount(s.publishRate)} msg/s (${formatCount(s.published)} since start, ${formatCount(s.unroutable)} unroutable)`],
    ['deliver rate', `${formatCount(s.deliverRate)} msg/s (${formatCount(s.delivered)} since start)`],
    ['memory', `rss ${formatBytes(m.rss)}, heap ${formatBytes(m.heapUsed)}, queued ${formatBytes(m.queuedBytes)} (${watermark})`],
    // An older daemon sends no alarm list.
    ['publishers', m.blocked ? `BLOCKED (${m.alarms === undefined ? 'an alarm' : blockReason(m.alarms)})` : 'flowing'],
  ];
  if (s.store !== null) rows.push(...storeLines(s.store));
  if (s.cluster != null) rows.push(...clusterLines(s.cluster));
  const width = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join('\n');
}

/** A cluster node's part of status: role and term, the in-sync set, each follower's lag, every node. */
function clusterLines(c: ClusterStatus): [string, string][] {
  const rows: [string, string][] = [['cluster', `'${c.cluster}', node '${c.node}' is ${c.role}, term ${c.term}, ${c.syncFollowers} sync follower${c.syncFollowers === 1 ? '' : 's'} required`]];
  const r = c.replication;
  if (r !== null) {
    rows.push(['in sync', `${r.inSync.join(', ')} (change set ${formatCount(r.lastIndex)})`]);
    for (const f of r.followers) {
      rows.push([`follower ${f.node}`, `${f.state}${f.inSync ? ', in sync' : ''}; lag ${formatCount(f.lagChanges)} change sets, ${formatBytes(f.lagBytes)}, ${f.lagSeconds.toFixed(3)} s`]);
    }
  }
  for (const n of c.nodes) rows.push([`node ${n.node}`, `${n.role} at ${n.native}, term ${n.term}${n.appliedIndex === null ? '' : `, applied ${formatCount(n.appliedIndex)}`}`]);
  return rows;
}

/** The store's part of status; keys a newer daemon adds are shown by `--json` only. */
function storeLines(st: Partial<StoreStatus>): [string, string][] {
  const n = (v: number | undefined): string => formatCount(v ?? 0);
  const rows: [string, string][] = [
    ['store', `${st.dataDir ?? '?'}, ${n(st.syncWorkers)} sync workers, ${n(st.shards)} queue files`],
    [
      'checkpoints',
      `${n(st.checkpoints)} committed, ${n(st.failedCheckpoints)} failed, ${n(st.checkpointsInFlight)} in flight; ` +
        `lag ${n(st.checkpointLagMs)} ms, ${formatBytes(st.pendingBytes ?? 0)} pending, ${n(st.confirmsWaiting)} confirms waiting`,
    ],
  ];
  if (typeof st.lastError === 'string') rows.push(['store error', st.lastError]);
  const p = st.paging;
  if (p !== undefined) {
    rows.push([
      'paging',
      `${formatBytes(p.used)} of ${formatBytes(p.totalBudget)} in memory (${formatBytes(p.queueBudget)} per queue), ` +
        `${n(p.pageIns)} page-ins, ${n(p.pageInsInFlight)} in flight`,
    ]);
  }
  // Queues with messages on disk: a restored backlog being paged in, or one past its budget.
  const backlogs = st.backlogs ?? [];
  for (const b of backlogs.slice(0, 10)) {
    const state = b.error !== null ? `; error: ${b.error}` : b.loading ? ', paging in' : '';
    rows.push([`backlog ${b.queue}`, `${n(b.ready)} ready, ${n(b.onDisk)} on disk${state}`]);
  }
  if (backlogs.length > 10) rows.push(['backlogs', `${n(backlogs.length - 10)} more (--json lists all)`]);
  return rows;
}

/** status, list, close-connection, definitions export|import: the commands that need admin methods. */
export function addAdminCommands(program: Command, io: Io): void {
  addTargetOptions(program.command('status').description('show the daemon: counts, rates, memory, store lag')).action(
    async (opts: TargetOptions) => {
      const s = await withConnection(opts, io, (conn) => new Admin(conn).status());
      if (opts.json) printJson(io, s);
      else println(io.stdout, statusLines(s));
    },
  );

  addTargetOptions(
    program
      .command('list')
      .description(`list ${ADMIN_LIST_KINDS.join(', ')}`)
      .argument('<what>', ADMIN_LIST_KINDS.join('|')),
  ).action(async (what: string, opts: TargetOptions) => {
    if (!isAdminListKind(what)) throw usageError(`list: unknown listing '${what}' (expected ${ADMIN_LIST_KINDS.join(', ')})`);
    // Objects are listed for the target vhost; settings (permissions, policies) for every vhost unless --vhost names one.
    const named = opts.vhost !== undefined || !['permissions', 'topic-permissions', 'policies', 'operator-policies'].includes(what);
    const rows = await withConnection(opts, io, (conn) => new Admin(conn).list(what, named ? { vhost: targetVhost(opts, io) } : {}));
    if (opts.json) printJson(io, rows);
    else println(io.stdout, formatTable(rows as never[], columnsFor(what, rows) as Column<never>[]));
  });

  addTargetOptions(
    program
      .command('close-connection')
      .description("close a client connection (ids from 'skiff list connections')")
      .argument('<id>', 'connection id, e.g. c12')
      .argument('[reason]', 'shown to the client', 'closed by an operator'),
  ).action(async (id: string, reason: string, opts: TargetOptions) => {
    await withConnection(opts, io, (conn) => new Admin(conn).closeConnection(id, reason));
    if (opts.json) printJson(io, { closed: id });
    else println(io.stdout, `closed connection ${id}`);
  });

  const defs = program.command('definitions').description('export or import the topology (exchanges, queues, bindings) as JSON');
  addTargetOptions(
    defs
      .command('export')
      .description('write the topology as JSON')
      .argument('[file]', "output file; '-' or none for stdout"),
  ).action(async (file: string | undefined, opts: TargetOptions) => {
    const d = await withConnection(opts, io, (conn) => exportDefinitions(new Admin(conn)), { in: 'vhost' });
    const text = `${JSON.stringify(d, null, 2)}\n`;
    if (file === undefined || file === '-') {
      io.stdout.write(text);
      return;
    }
    writeFileSync(file, text);
    const summary = { exchanges: d.exchanges.length, queues: d.queues.length, bindings: d.bindings.length, file };
    if (opts.json) printJson(io, summary);
    else println(io.stdout, `exported ${summary.exchanges} exchanges, ${summary.queues} queues, ${summary.bindings} bindings to ${file}`);
  });

  addTargetOptions(
    defs
      .command('import')
      .description('declare the topology of a JSON file (existing equal things are kept)')
      .argument('<file>', "definitions file; '-' for stdin"),
  ).action(async (file: string, opts: TargetOptions) => {
    const d = parseDefinitions(await readJson(io, file), targetVhost(opts, io));
    const skipped = (['users', 'permissions', 'topic_permissions', 'policies', 'parameters'] as const).filter((k) => {
      const v = d.rabbit?.[k];
      return Array.isArray(v) && v.length !== 0;
    });
    if (skipped.length !== 0) {
      io.stderr.write(`skiff: warning: ${skipped.join(', ')}: not imported over the native protocol; POST the file to /api/definitions to import them\n`);
    }
    const progress = new Progress(io.stderr, 'importing', definitionsCount(d));
    const counts = await withConnection(opts, io, (conn) => importDefinitions(conn, d, (done) => progress.update(done)), { in: 'vhost' });
    progress.finish();
    if (opts.json) printJson(io, counts);
    else println(io.stdout, `imported ${counts.exchanges} exchanges, ${counts.queues} queues, ${counts.bindings} bindings`);
  });
}

async function readAll(stream: Io['stdin']): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(typeof c === 'string' ? Buffer.from(c) : (c as Buffer));
  return Buffer.concat(chunks).toString('utf8');
}

/** A JSON document from a file, or from stdin for '-'; problems are usage errors naming the file. */
async function readJson(io: Io, file: string): Promise<unknown> {
  const label = file === '-' ? 'stdin' : file;
  let text: string;
  try {
    text = file === '-' ? await readAll(io.stdin) : readFileSync(file, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw usageError(`${label}: cannot read: ${e.code === 'ENOENT' ? 'no such file' : e.message}`);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw usageError(`${label}: not valid JSON: ${(err as Error).message}`);
  }
}
