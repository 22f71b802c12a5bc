import {
  checkDefinitions,
  definitionsCount,
  definitionsFromRows,
  type BindingDefinition,
  type Definitions,
  type ExchangeDefinition,
  type QueueDefinition,
} from '../../protocol/index.js';
import { VERSION } from '../version.js';
import type { Admin } from './admin.js';
import type { Connection } from './connection.js';
import { SkiffError } from './errors.js';

export type { BindingDefinition, Definitions, ExchangeDefinition, QueueDefinition };
export { definitionsCount };

/** A definitions document that does not have the shape above; `problems` lists each, by path. */
export class DefinitionsError extends SkiffError {
  override name = 'DefinitionsError';
  readonly problems: readonly string[];
  constructor(problems: string[]) {
    super('ERR_DEFINITIONS', problems.length === 1 ? (problems[0] as string) : `${problems.length} problems: ${problems.join('; ')}`);
    this.problems = problems;
  }
}

/**
 * Reads the topology (`skiff definitions export`): every exchange but the built-in ones, every
 * queue but exclusive ones (they belong to a connection), and the bindings between what is
 * exported or built in.
 */
export async function exportDefinitions(admin: Admin): Promise<Definitions> {
  const [exchanges, queues, bindings] = [await admin.exchanges(), await admin.queues(), await admin.bindings()];
  return definitionsFromRows(exchanges, queues, bindings, VERSION);
}

/**
 * Checks a parsed JSON document and fills defaults (false, '' and {}). Throws
 * {@link DefinitionsError} naming every problem by path, e.g. `queues[2].durable`.
 */
export function parseDefinitions(doc: unknown, vhost = '/'): Definitions {
  const r = checkDefinitions(doc);
  if (r.definitions === null) throw new DefinitionsError(r.problems);
  const d = r.definitions;
  // Over the native protocol an import declares into the one vhost it connected to: every entry
  // must be of that vhost (POST /api/definitions imports every vhost at once); queues classic
  // (the argument is dropped) or streams.
  const problems: string[] = [];
  for (const [section, list] of [['exchanges', d.exchanges], ['queues', d.queues], ['bindings', d.bindings]] as const) {
    list.forEach((e, i) => {
      if (e.vhost !== undefined && e.vhost !== vhost) problems.push(`${section}[${i}].vhost: '${e.vhost}' is not the vhost this import declares into ('${vhost}'); import it with --vhost '${e.vhost}' or POST the file to /api/definitions`);
    });
  }
  d.queues = d.queues.map((q, i) => {
    const { 'x-queue-type': argType, ...args } = q.arguments;
    const type = q.type ?? argType ?? 'classic';
    if ((type !== 'classic' && type !== 'stream') || (argType !== undefined && argType !== type)) {
      problems.push(`queues[${i}].type: ${String(type === 'classic' || type === 'stream' ? argType : type)} queues are not supported (only classic and stream)`);
    }
    // A stream is declared as one (x-queue-type); classic needs no argument.
    return { ...q, arguments: type === 'stream' ? { ...args, 'x-queue-type': 'stream' } : args };
  });
  if (problems.length !== 0) throw new DefinitionsError(problems);
  return d;
}

/**
 * Declares everything in `defs` through an ordinary channel: exchanges, then queues, then
 * bindings (so every end of a binding exists by then). Existing equal things are left alone; a conflicting one stops the import with the
 * server's PRECONDITION_FAILED (everything before it stays declared).
 */
export async function importDefinitions(
  connection: Connection,
  defs: Definitions,
  onProgress?: (done: number, total: number) => void,
): Promise<{ exchanges: number; queues: number; bindings: number }> {
  const total = definitionsCount(defs);
  let done = 0;
  const step = (): void => onProgress?.(++done, total);
  const ch = await connection.channel();
  try {
    for (const x of defs.exchanges) {
      await ch.declareExchange(x.name, x.type, { durable: x.durable, autoDelete: x.auto_delete, internal: x.internal, arguments: x.arguments });
      step();
    }
    for (const q of defs.queues) {
      await ch.declareQueue(q.name, { durable: q.durable, autoDelete: q.auto_delete, arguments: q.arguments });
      step();
    }
    for (const b of defs.bindings) {
      if (b.destination_type === 'exchange') await ch.bindExchange(b.destination, b.source, b.routing_key, b.arguments);
      else await ch.bindQueue(b.destination, b.source, b.routing_key, b.arguments);
      step();
    }
  } finally {
    if (ch.isOpen) await ch.close();
  }
  return { exchanges: defs.exchanges.length, queues: defs.queues.length, bindings: defs.bindings.length };
}
