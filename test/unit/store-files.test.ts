import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { decodeArgs, encodeArgs } from '../../src/store/args-json.js';
import { checkStoreOptions, DEFAULT_STORE_OPTIONS, failWritesFromEnv } from '../../src/store/options.js';
import { PageReader, QueueFile } from '../../src/store/queue-file.js';
import { RowColumns } from '../../src/store/row-columns.js';
import { APPLICATION_ID, openStoreFile, queueFileName, schemaVersion, shardOfFile } from '../../src/store/schema.js';
import { TopologyFile } from '../../src/store/topology-file.js';
import { INS, INS_STRIDE, type MessagesPart } from '../../src/store/wire.js';

beforeEach(() => {
  expect.hasAssertions();
});

const root = mkdtempSync(join(tmpdir(), 'skiff-store-unit-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let fileSeq = 0;
const nextFile = (): string => join(root, `f${++fileSeq}.db`);

function part(rows: RowColumns, extra: Partial<MessagesPart> = {}): MessagesPart {
  const { rows: r, strings, content } = rows.build();
  return { t: 'msgs', shard: 0, batch: 1, first: true, last: true, rows: r, strings, content, upd: new Float64Array(), del: new Float64Array(), ranges: new Float64Array(), drop: [], ...extra };
}

function rowsOf(qid: number, ids: number[]): RowColumns {
  const c = new RowColumns();
  for (const id of ids) c.add(qid, id, 0, 0, 0, 0, 'x', `rk${id % 3}`, Buffer.from(`body-${id}`), 0);
  return c;
}

function write(f: QueueFile, p: MessagesPart): void {
  f.begin();
  f.apply(p, null);
  f.commit();
}

/** Page-ins read on a connection of their own, as the sync workers do. */
const readers = new WeakMap<QueueFile, PageReader>();

function openQueueFile(): QueueFile {
  const file = nextFile();
  const f = new QueueFile(openStoreFile(file, 'queues', 'NORMAL').db, 0, file);
  readers.set(f, new PageReader(new Database(file, { readonly: true }), 0));
  return f;
}

/** Every stored row of the given queues, by paging each in whole. */
function readChunks(f: QueueFile, qids: number[]): Float64Array[] {
  const reader = readers.get(f) as PageReader;
  return qids.map((qid) => reader.page({ t: 'page', req: 0, shard: 0, qid, after: 0, upTo: Number.MAX_SAFE_INTEGER, minPriority: 0, maxPriority: 255, maxBytes: 1 << 30 }).rows);
}

function readIds(f: QueueFile, qids = [1, 2, 7]): [number, number][] {
  const out: [number, number][] = [];
  for (const rows of readChunks(f, qids)) {
    for (let i = 0; i < rows.length; i += INS_STRIDE) out.push([rows[i + INS.qid] as number, rows[i + INS.id] as number]);
  }
  return out;
}

describe('file names', () => {
  it('recognises exactly the names it writes', () => {
    expect([0, 7, 12].map(queueFileName)).toEqual(['queues-0.db', 'queues-7.db', 'queues-12.db']);
    expect(['queues-0.db', 'queues-12.db', 'queues-01.db', 'queues-3.db-wal', 'topology.db', 'queues-.db'].map(shardOfFile)).toEqual([
      0,
      12,
      null,
      null,
      null,
      null,
    ]);
  });
});

describe('openStoreFile', () => {
  it('creates a new file in WAL mode with the skiff application id and the current schema', () => {
    const file = nextFile();
    const { db, created } = openStoreFile(file, 'queues', 'NORMAL');
    expect({
      created,
      journal: db.pragma('journal_mode', { simple: true }),
      appId: db.pragma('application_id', { simple: true }),
      version: db.pragma('user_version', { simple: true }),
      synchronous: db.pragma('synchronous', { simple: true }),
    }).toEqual({ created: true, journal: 'wal', appId: APPLICATION_ID, version: schemaVersion('queues'), synchronous: 1 });
    db.close();
    const again = openStoreFile(file, 'queues', 'FULL');
    expect({ created: again.created, synchronous: again.db.pragma('synchronous', { simple: true }) }).toEqual({ created: false, synchronous: 2 });
    again.db.close();
  });

  it('refuses a file of the other kind', () => {
    const file = nextFile();
    openStoreFile(file, 'topology', 'FULL').db.close();
    expect(() => openStoreFile(file, 'queues', 'FULL')).toThrow(
      expect.objectContaining({ code: 'ERR_STORE_FOREIGN', message: `store file '${file}' is not a skiff store (it holds topology, expected queues); refusing to use it` }),
    );
  });

  it('migrates a version-1 topology file (no settings table) keeping its rows, and stores settings', () => {
    const file = nextFile();
    const old = new Database(file);
    old.exec(`CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
      CREATE TABLE exchanges (name TEXT PRIMARY KEY, type TEXT NOT NULL, auto_delete INTEGER NOT NULL, internal INTEGER NOT NULL, arguments TEXT NOT NULL);
      CREATE TABLE queues (name TEXT PRIMARY KEY, qid INTEGER NOT NULL UNIQUE, shard INTEGER NOT NULL, auto_delete INTEGER NOT NULL, arguments TEXT NOT NULL);
      CREATE TABLE bindings (exchange TEXT NOT NULL, queue TEXT NOT NULL, routing_key TEXT NOT NULL, arguments TEXT NOT NULL, PRIMARY KEY (exchange, queue, routing_key, arguments));
      CREATE TABLE exchange_bindings (source TEXT NOT NULL, destination TEXT NOT NULL, routing_key TEXT NOT NULL, arguments TEXT NOT NULL, PRIMARY KEY (source, destination, routing_key, arguments));
      INSERT INTO meta VALUES ('kind', 'topology');
      INSERT INTO exchanges VALUES ('ex', 'direct', 0, 0, '{}');`);
    old.pragma(`application_id = ${APPLICATION_ID}`);
    old.pragma('user_version = 1');
    old.close();
    const { db, created } = openStoreFile(file, 'topology', 'NORMAL');
    expect([created, db.pragma('user_version', { simple: true })]).toEqual([false, schemaVersion('topology')]);
    const t = new TopologyFile(db, file);
    t.apply([{ op: 'setting', kind: 'user', key: 'alice', value: '{"tags":[]}' }, { op: 'setting', kind: 'user', key: 'bob', value: '{}' }, { op: 'setting-delete', kind: 'user', key: 'bob' }], null);
    const read = t.read();
    expect([read.exchanges.map((x) => x.name), read.settings]).toEqual([['ex'], [{ kind: 'user', key: 'alice', value: '{"tags":[]}' }, DEFAULT_VHOST_ROW]]);
    t.close();
  });

  it('migrates a version-2 topology file into the vhost /: every row, policies keyed by vhost, the default vhost recorded', () => {
    const file = nextFile();
    const old = new Database(file);
    old.exec(`CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
      CREATE TABLE exchanges (name TEXT PRIMARY KEY, type TEXT NOT NULL, auto_delete INTEGER NOT NULL, internal INTEGER NOT NULL, arguments TEXT NOT NULL);
      CREATE TABLE queues (name TEXT PRIMARY KEY, qid INTEGER NOT NULL UNIQUE, shard INTEGER NOT NULL, auto_delete INTEGER NOT NULL, arguments TEXT NOT NULL);
      CREATE TABLE bindings (exchange TEXT NOT NULL, queue TEXT NOT NULL, routing_key TEXT NOT NULL, arguments TEXT NOT NULL, PRIMARY KEY (exchange, queue, routing_key, arguments));
      CREATE INDEX bindings_by_queue ON bindings (queue);
      CREATE TABLE exchange_bindings (source TEXT NOT NULL, destination TEXT NOT NULL, routing_key TEXT NOT NULL, arguments TEXT NOT NULL, PRIMARY KEY (source, destination, routing_key, arguments));
      CREATE INDEX exchange_bindings_by_destination ON exchange_bindings (destination);
      CREATE TABLE settings (kind TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (kind, key));
      INSERT INTO meta VALUES ('kind', 'topology');
      INSERT INTO exchanges VALUES ('ex', 'topic', 0, 0, '{}'), ('ex2', 'fanout', 1, 1, '{"alternate-exchange":"ex"}');
      INSERT INTO queues VALUES ('q', 7, 2, 0, '{"x-max-length":5}');
      INSERT INTO bindings VALUES ('ex', 'q', 'a.*', '{}');
      INSERT INTO exchange_bindings VALUES ('ex2', 'ex', '', '{}');
      INSERT INTO settings VALUES ('user', 'alice', '{}'), ('permission', '/' || char(0) || 'alice', '{}'), ('policy', 'ttl', '{"pattern":".*"}'), ('operator-policy', 'cap', '{}');`);
    old.pragma(`application_id = ${APPLICATION_ID}`);
    old.pragma('user_version = 2');
    old.close();
    const { db, created } = openStoreFile(file, 'topology', 'NORMAL');
    expect([created, db.pragma('user_version', { simple: true })]).toEqual([false, 3]);
    const t = new TopologyFile(db, file);
    expect(t.read()).toEqual({
      settings: [
        { kind: 'operator-policy', key: '/\u0000cap', value: '{}' },
        { kind: 'permission', key: '/\u0000alice', value: '{}' },
        { kind: 'policy', key: '/\u0000ttl', value: '{"pattern":".*"}' },
        { kind: 'user', key: 'alice', value: '{}' },
        DEFAULT_VHOST_ROW,
      ],
      exchanges: [
        { vhost: '/', name: 'ex', type: 'topic', autoDelete: false, internal: false, arguments: '{}' },
        { vhost: '/', name: 'ex2', type: 'fanout', autoDelete: true, internal: true, arguments: '{"alternate-exchange":"ex"}' },
      ],
      queues: [{ vhost: '/', name: 'q', qid: 7, shard: 2, autoDelete: false, arguments: '{"x-max-length":5}' }],
      bindings: [{ vhost: '/', exchange: 'ex', queue: 'q', routingKey: 'a.*', arguments: '{}' }],
      exchangeBindings: [{ vhost: '/', source: 'ex2', destination: 'ex', routingKey: '', arguments: '{}' }],
    });
    // The same names in another vhost are other rows; deleting one vhost's leaves the other's.
    t.apply(
      [
        { op: 'exchange', vhost: 'b', name: 'ex', type: 'direct', autoDelete: false, internal: false, arguments: '{}' },
        { op: 'queue', vhost: 'b', name: 'q', qid: 8, shard: 0, autoDelete: false, arguments: '{}' },
        { op: 'bind', vhost: 'b', exchange: 'ex', queue: 'q', routingKey: 'k', arguments: '{}' },
        { op: 'queue-delete', vhost: '/', name: 'q', qid: 7 },
        { op: 'exchange-delete', vhost: '/', name: 'ex' },
      ],
      null,
    );
    const after = t.read();
    expect([after.exchanges.map((x) => `${x.vhost} ${x.name} ${x.type}`), after.queues.map((q) => `${q.vhost} ${q.name}`), after.bindings, after.exchangeBindings]).toEqual([
      ['/ ex2 fanout', 'b ex direct'],
      ['b q'],
      [{ vhost: 'b', exchange: 'ex', queue: 'q', routingKey: 'k', arguments: '{}' }],
      [],
    ]);
    t.close();
  });

  it('refuses a SQLite file with another application id', () => {
    const file = nextFile();
    const db = new Database(file);
    db.pragma('application_id = 42');
    db.close();
    expect(() => openStoreFile(file, 'topology', 'FULL')).toThrow(
      expect.objectContaining({ code: 'ERR_STORE_FOREIGN', message: `store file '${file}' is not a skiff store (its application id is 0x2a); refusing to use it` }),
    );
  });
});

describe('QueueFile', () => {
  it('writes a batch far above the statement-variable limit in one transaction', () => {
    const f = openQueueFile();
    const ids = Array.from({ length: 5000 }, (_, i) => i + 1);
    write(f, part(rowsOf(1, ids)));
    expect(f.summary()).toEqual({ messages: 5000, maxQid: 1 });
    f.close();
  });

  it('a retried batch leaves the same rows (idempotent), updates and deletes by key', () => {
    const f = openQueueFile();
    const p = part(rowsOf(1, [1, 2, 3]));
    write(f, p);
    write(f, part(rowsOf(1, [1, 2, 3])));
    write(f, part(new RowColumns(), { upd: Float64Array.from([1, 2, 1, 4]), del: Float64Array.from([1, 3, 0, 6]) }));
    write(f, part(new RowColumns(), { del: Float64Array.from([1, 3, 0, 6]) }));
    const rows = Array.from(readChunks(f, [1])[0] ?? []);
    // The counts followed the rows, not the attempts: two left, of 6 bytes each.
    expect(f.counts([1]).counts).toEqual([{ qid: 1, priority: 0, messages: 2, bytes: 12, maxId: 3 }]);
    expect(readIds(f)).toEqual([
      [1, 1],
      [1, 2],
    ]);
    expect([rows[INS_STRIDE + INS.redelivered], rows[INS_STRIDE + INS.deliveryCount]]).toEqual([1, 4]);
    f.close();
  });

  it('removals in rising id order go by range, around rows still held between them; a retry changes nothing', () => {
    const f = openQueueFile();
    const ids = Array.from({ length: 40 }, (_, i) => i + 1);
    write(f, part(rowsOf(1, ids)));
    write(f, part(rowsOf(2, ids)));
    // Queue 1 removes all but 10 and 20 (still held), in id order: one run, three stretches.
    const del = ids.filter((id) => id !== 10 && id !== 20).flatMap((id) => [1, id, 0, `body-${id}`.length]);
    const removals = part(new RowColumns(), { del: Float64Array.from(del) });
    write(f, removals);
    const after = readIds(f, [1, 2]);
    write(f, part(new RowColumns(), { del: Float64Array.from(del) }));
    expect(readIds(f, [1, 2])).toEqual(after);
    expect(after).toEqual([[1, 10], [1, 20], ...ids.map((id) => [2, id])]);
    expect(f.counts([1, 2]).counts).toEqual([
      { qid: 1, priority: 0, messages: 2, bytes: 14, maxId: 40 },
      { qid: 2, priority: 0, messages: 40, bytes: 40 * 6 + 31 * 1, maxId: 40 },
    ]);
    f.close();
  });

  it('a failure midway rolls the whole transaction back', () => {
    const f = openQueueFile();
    f.begin();
    expect(() =>
      f.apply(part(rowsOf(1, [1, 2])), () => {
        throw new Error('boom');
      }),
    ).toThrow('boom');
    f.rollback();
    expect(f.summary().messages).toBe(0);
    f.close();
  });

  it('reads back in (queue, id) order and deletes orphans of queues the topology lost', () => {
    const f = openQueueFile();
    write(f, part(rowsOf(2, [9, 3])));
    write(f, part(rowsOf(1, [5, 4])));
    write(f, part(rowsOf(7, [1])));
    expect(f.counts([1, 2]).orphans).toBe(1);
    expect(readIds(f)).toEqual([
      [1, 4],
      [1, 5],
      [2, 3],
      [2, 9],
    ]);
    write(f, part(new RowColumns(), { drop: [1] }));
    expect(readIds(f)).toEqual([
      [2, 3],
      [2, 9],
    ]);
    f.close();
  });
});

/** Every topology file has the default vhost (schema version 3 on). */
const DEFAULT_VHOST_ROW = { kind: 'vhost', key: '/', value: '{"description":"Default virtual host","tags":[]}' };

describe('TopologyFile', () => {
  it('applies ops in order; deletes take their bindings along', () => {
    const t = new TopologyFile(openStoreFile(nextFile(), 'topology', 'NORMAL').db, 't.db');
    t.apply(
      [
        { op: 'exchange', vhost: '/', name: 'a', type: 'direct', autoDelete: false, internal: true, arguments: '{}' },
        { op: 'exchange', vhost: '/', name: 'b', type: 'fanout', autoDelete: true, internal: false, arguments: '{"alternate-exchange":"a"}' },
        { op: 'queue', vhost: '/', name: 'q', qid: 1, shard: 0, autoDelete: false, arguments: '{}' },
        { op: 'bind', vhost: '/', exchange: 'a', queue: 'q', routingKey: 'k', arguments: '{}' },
        { op: 'xbind', vhost: '/', source: 'b', destination: 'a', routingKey: '', arguments: '{}' },
        { op: 'queue-delete', vhost: '/', name: 'q', qid: 1 },
        { op: 'queue', vhost: '/', name: 'q', qid: 2, shard: 1, autoDelete: true, arguments: '{"x-max-length":5}' },
        { op: 'bind', vhost: '/', exchange: 'b', queue: 'q', routingKey: '', arguments: '{}' },
        // A stale delete of the first incarnation must not remove the second.
        { op: 'queue-delete', vhost: '/', name: 'q', qid: 1 },
        { op: 'exchange-delete', vhost: '/', name: 'a' },
      ],
      null,
    );
    expect(t.read()).toEqual({
      settings: [DEFAULT_VHOST_ROW],
      exchanges: [{ vhost: '/', name: 'b', type: 'fanout', autoDelete: true, internal: false, arguments: '{"alternate-exchange":"a"}' }],
      queues: [{ vhost: '/', name: 'q', qid: 2, shard: 1, autoDelete: true, arguments: '{"x-max-length":5}' }],
      bindings: [{ vhost: '/', exchange: 'b', queue: 'q', routingKey: '', arguments: '{}' }],
      exchangeBindings: [],
    });
    t.close();
  });

  it('unbind keeps the bindings the broker still has under the same key', () => {
    const t = new TopologyFile(openStoreFile(nextFile(), 'topology', 'NORMAL').db, 't.db');
    const one = encodeArgs({ 'x-match': 'all', a: 1 });
    const two = encodeArgs({ 'x-match': 'any', b: 2 });
    t.apply(
      [
        { op: 'bind', vhost: '/', exchange: 'h', queue: 'q', routingKey: '', arguments: one },
        { op: 'bind', vhost: '/', exchange: 'h', queue: 'q', routingKey: '', arguments: two },
        { op: 'unbind', vhost: '/', exchange: 'h', queue: 'q', routingKey: '', keep: JSON.stringify([two]) },
      ],
      null,
    );
    expect(t.read().bindings.map((b) => b.arguments)).toEqual([two]);
    t.close();
  });

  it('a failure midway leaves none of the checkpoint applied', () => {
    const t = new TopologyFile(openStoreFile(nextFile(), 'topology', 'NORMAL').db, 't.db');
    const ops = [
      { op: 'exchange', vhost: '/', name: 'a', type: 'direct', autoDelete: false, internal: false, arguments: '{}' },
      { op: 'queue', vhost: '/', name: 'q', qid: 1, shard: 0, autoDelete: false, arguments: '{}' },
    ] as const;
    expect(() =>
      t.apply([...ops], () => {
        throw new Error('boom');
      }),
    ).toThrow('boom');
    expect(t.read()).toEqual({ settings: [DEFAULT_VHOST_ROW], exchanges: [], queues: [], bindings: [], exchangeBindings: [] });
    t.close();
  });
});

describe('arguments as JSON', () => {
  it('round-trips binary values and sorts keys so equal arguments have equal text', () => {
    const args = { b: [1, { z: Buffer.from([1, 2]) }], a: 'x', n: null, f: 1.5 };
    const text = encodeArgs(args);
    expect(text).toBe('{"a":"x","b":[1,{"z":{"$bytes":"AQI="}}],"f":1.5,"n":null}');
    expect(decodeArgs(text)).toEqual(args);
    expect(encodeArgs({ y: 1, x: 2 })).toBe(encodeArgs({ x: 2, y: 1 }));
  });
});

describe('store options', () => {
  it('accepts the defaults and names the config key of a bad value', () => {
    expect(() => checkStoreOptions(DEFAULT_STORE_OPTIONS)).not.toThrow();
    const bad: [Partial<typeof DEFAULT_STORE_OPTIONS>, string][] = [
      [{ dataDir: '' }, 'data_dir must be a non-empty path, got ""'],
      [{ checkpointIntervalMs: 0 }, 'checkpoint_interval_ms must be an integer >= 1, got 0'],
      [{ syncWorkers: 65 }, 'sync_workers must be an integer from 1 to 64, got 65'],
      [{ maxConfirmDelayMs: -1 }, 'max_confirm_delay_ms must be an integer >= 0, got -1'],
      [{ synchronous: 'OFF' as 'FULL' }, 'synchronous must be "FULL" or "NORMAL", got "OFF"'],
      [{ maxPendingBytes: 1000 }, 'max_pending_bytes must be an integer >= 1048576, got 1000'],
    ];
    for (const [o, message] of bad) {
      expect(() => checkStoreOptions({ ...DEFAULT_STORE_OPTIONS, ...o })).toThrow(expect.objectContaining({ code: 'ERR_STORE_OPTIONS', message }));
    }
  });

  it('reads the fault-injection hook from the environment', () => {
    expect(failWritesFromEnv({})).toBeNull();
    expect(failWritesFromEnv({ SKIFF_STORE_FAIL_WRITES: '3' })).toEqual({ nth: 3, times: 1 });
    expect(failWritesFromEnv({ SKIFF_STORE_FAIL_WRITES: '2:5:topology' })).toEqual({ nth: 2, times: 5, file: 'topology' });
    expect(failWritesFromEnv({ SKIFF_STORE_FAIL_WRITES: '1:1:any:exit' })).toEqual({ nth: 1, times: 1, exit: true });
    expect(() => failWritesFromEnv({ SKIFF_STORE_FAIL_WRITES: '0' })).toThrow(
      expect.objectContaining({ code: 'ERR_STORE_OPTIONS', message: `SKIFF_STORE_FAIL_WRITES must be 'nth[:times[:topology|queues|any[:exit]]]', got "0"` }),
    );
  });
});
