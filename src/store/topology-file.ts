import type Database from 'better-sqlite3';
import type { StoredBinding, StoredExchange, StoredExchangeBinding, StoredQueue, StoredSetting, StoredTopology, TopologyOp } from './wire.js';

/**
 * The topology file: durable exchanges, durable queues (with the shard and incarnation id that
 * locate their messages) and bindings between durable ends. Ops are applied in the order the
 * broker made them, in one transaction per checkpoint, so a crash never leaves half of a
 * delete applied.
 */
export class TopologyFile {
  readonly file: string;
  private readonly db: Database.Database;
  private readonly stmts: Record<TopologyOp['op'], Database.Statement[]>;

  constructor(db: Database.Database, file: string) {
    this.db = db;
    this.file = file;
    const p = (sql: string): Database.Statement => db.prepare(sql);
    // Named parameters are the op's own fields, so every op runs the same way.
    const keep = 'arguments NOT IN (SELECT value FROM json_each(@keep))';
    this.stmts = {
      exchange: [
        p(
          'INSERT OR REPLACE INTO exchanges (vhost, name, type, auto_delete, internal, arguments) VALUES (@vhost, @name, @type, @autoDelete, @internal, @arguments)',
        ),
      ],
      // Deleting an exchange removes every binding from it and every exchange binding to it.
      'exchange-delete': [
        p('DELETE FROM bindings WHERE vhost = @vhost AND exchange = @name'),
        p('DELETE FROM exchange_bindings WHERE vhost = @vhost AND (source = @name OR destination = @name)'),
        p('DELETE FROM exchanges WHERE vhost = @vhost AND name = @name'),
      ],
      queue: [
        p('INSERT OR REPLACE INTO queues (vhost, name, qid, shard, auto_delete, arguments) VALUES (@vhost, @name, @qid, @shard, @autoDelete, @arguments)'),
      ],
      // By qid as well as name: a stale delete must not remove a newer queue of the same name.
      'queue-delete': [
        p('DELETE FROM bindings WHERE vhost = @vhost AND queue = @name AND EXISTS (SELECT 1 FROM queues WHERE vhost = @vhost AND name = @name AND qid = @qid)'),
        p('DELETE FROM queues WHERE vhost = @vhost AND name = @name AND qid = @qid'),
      ],
      bind: [
        p('INSERT OR REPLACE INTO bindings (vhost, exchange, queue, routing_key, arguments) VALUES (@vhost, @exchange, @queue, @routingKey, @arguments)'),
      ],
      unbind: [p(`DELETE FROM bindings WHERE vhost = @vhost AND exchange = @exchange AND queue = @queue AND routing_key = @routingKey AND ${keep}`)],
      xbind: [
        p(
          'INSERT OR REPLACE INTO exchange_bindings (vhost, source, destination, routing_key, arguments) VALUES (@vhost, @source, @destination, @routingKey, @arguments)',
        ),
      ],
      xunbind: [
        p(
          `DELETE FROM exchange_bindings WHERE vhost = @vhost AND source = @source AND destination = @destination AND routing_key = @routingKey AND ${keep}`,
        ),
      ],
      setting: [p('INSERT OR REPLACE INTO settings (kind, key, value) VALUES (@kind, @key, @value)')],
      'setting-delete': [p('DELETE FROM settings WHERE kind = @kind AND key = @key')],
    };
  }

  /** Applies a checkpoint's ops in one transaction. */
  apply(ops: readonly TopologyOp[], failMidway: (() => void) | null): void {
    this.db.transaction(() => {
      const half = ops.length >> 1;
      for (let i = 0; i < ops.length; i++) {
        if (i === half) failMidway?.();
        const o = ops[i] as TopologyOp;
        const params = bindable(o);
        for (const st of this.stmts[o.op]) st.run(params);
      }
      if (ops.length === 0) failMidway?.();
    })();
  }

  read(): StoredTopology {
    const all = <T>(sql: string): T[] => this.db.prepare(sql).all() as T[];
    type Flags = { autoDelete: number; internal: number };
    const exchanges = all<Omit<StoredExchange, keyof Flags> & Flags>(
      'SELECT vhost, name, type, auto_delete AS autoDelete, internal, arguments FROM exchanges ORDER BY vhost, name',
    ).map((r) => ({ ...r, autoDelete: r.autoDelete !== 0, internal: r.internal !== 0 }));
    const queues = all<Omit<StoredQueue, 'autoDelete'> & { autoDelete: number }>(
      'SELECT vhost, name, qid, shard, auto_delete AS autoDelete, arguments FROM queues ORDER BY qid',
    ).map((r) => ({ ...r, autoDelete: r.autoDelete !== 0 }));
    const bindings = all<StoredBinding>('SELECT vhost, exchange, queue, routing_key AS routingKey, arguments FROM bindings ORDER BY rowid');
    const exchangeBindings = all<StoredExchangeBinding>(
      'SELECT vhost, source, destination, routing_key AS routingKey, arguments FROM exchange_bindings ORDER BY rowid',
    );
    const settings = all<StoredSetting>('SELECT kind, key, value FROM settings ORDER BY kind, key');
    return { settings, exchanges, queues, bindings, exchangeBindings };
  }

  /** A compact copy of the file as committed (outside any transaction). */
  snapshotInto(path: string): void {
    this.db.prepare('VACUUM INTO ?').run(path);
  }

  close(): void {
    this.db.close();
  }
}

/** SQLite has no booleans: the op's fields as statement parameters. */
function bindable(o: TopologyOp): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) out[k] = typeof v === 'boolean' ? (v ? 1 : 0) : v;
  return out;
}
