import type { BindingRow, ExchangeRow, QueueRow } from './codec/admin.js';

/**
 * Topology as JSON: what `skiff definitions export|import` writes and reads and what the HTTP
 * API's `/api/definitions` serves and accepts. Field names follow RabbitMQ's definitions files
 * so the shape is familiar; only what Skiff has is included. Pure data, shared by the client
 * and the daemon so that both check a document the same way.
 */
export interface Definitions {
  /** The version that wrote the file; informational. */
  skiff_version?: string;
  exchanges: ExchangeDefinition[];
  queues: QueueDefinition[];
  bindings: BindingDefinition[];
  /**
   * The other sections of a RabbitMQ export (`users`, `vhosts`, `permissions`, `policies`, …),
   * as they came: the daemon's import checks and applies them (the HTTP API's
   * `POST /api/definitions`).
   */
  rabbit?: Partial<Record<RabbitSection, unknown>>;
}

/** Top-level keys of RabbitMQ's definitions export besides exchanges, queues and bindings. */
export const RABBIT_SECTIONS = [
  'rabbit_version',
  'rabbitmq_version',
  'product_name',
  'product_version',
  'users',
  'vhosts',
  'permissions',
  'topic_permissions',
  'parameters',
  'global_parameters',
  'policies',
] as const;
export type RabbitSection = (typeof RABBIT_SECTIONS)[number];

export interface ExchangeDefinition {
  /** RabbitMQ's exports name the vhost of every entry; absent = `/`. */
  vhost?: string;
  name: string;
  type: string;
  durable: boolean;
  auto_delete: boolean;
  internal: boolean;
  arguments: Record<string, unknown>;
}

export interface QueueDefinition {
  vhost?: string;
  /** RabbitMQ's queue type (`classic`); absent = classic. */
  type?: string;
  name: string;
  durable: boolean;
  auto_delete: boolean;
  arguments: Record<string, unknown>;
}

export interface BindingDefinition {
  vhost?: string;
  /** Exchange. */
  source: string;
  /** Queue, or exchange for an exchange → exchange binding. */
  destination: string;
  destination_type: 'queue' | 'exchange';
  routing_key: string;
  arguments: Record<string, unknown>;
}

/** Exchanges that exist in every daemon and are never exported: the default one and `amq.*`. */
function builtIn(exchange: string): boolean {
  return exchange === '' || exchange.startsWith('amq.');
}

/**
 * The topology worth exporting from listing rows: every exchange but the built-in ones, every
 * queue but exclusive ones (they belong to a connection), and the bindings between what is
 * exported or built in.
 */
export function definitionsFromRows(
  exchanges: readonly Pick<ExchangeRow, 'name' | 'type' | 'durable' | 'autoDelete' | 'internal' | 'arguments'>[],
  queues: readonly Pick<QueueRow, 'name' | 'durable' | 'exclusive' | 'autoDelete' | 'arguments'>[],
  bindings: readonly BindingRow[],
  version: string,
): Definitions {
  const shared = queues.filter((q) => !q.exclusive);
  const queueNames = new Set(shared.map((q) => q.name));
  const kept = (destination: string, type: 'queue' | 'exchange'): boolean => (type === 'queue' ? queueNames.has(destination) : destination !== '');
  return {
    skiff_version: version,
    exchanges: exchanges
      .filter((x) => !builtIn(x.name))
      .map((x) => ({ name: x.name, type: x.type, durable: x.durable, auto_delete: x.autoDelete, internal: x.internal, arguments: sortedKeys(x.arguments) })),
    queues: shared.map((q) => ({ name: q.name, durable: q.durable, auto_delete: q.autoDelete, arguments: sortedKeys(q.arguments) })),
    bindings: bindings
      .filter((b) => kept(b.destination, b.destinationType))
      .map((b) => ({ source: b.source, destination: b.destination, destination_type: b.destinationType, routing_key: b.routingKey, arguments: sortedKeys(b.arguments) })),
  };
}

type FieldKind = 'string' | 'boolean' | 'object';
type Shape = Record<string, { kind: FieldKind; required: boolean }>;

const req = (kind: FieldKind): { kind: FieldKind; required: boolean } => ({ kind, required: true });
const opt = (kind: FieldKind): { kind: FieldKind; required: boolean } => ({ kind, required: false });

const SHAPES: Record<'exchanges' | 'queues' | 'bindings', Shape> = {
  exchanges: {
    vhost: opt('string'),
    name: req('string'),
    type: req('string'),
    durable: opt('boolean'),
    auto_delete: opt('boolean'),
    internal: opt('boolean'),
    arguments: opt('object'),
  },
  queues: { vhost: opt('string'), type: opt('string'), name: req('string'), durable: opt('boolean'), auto_delete: opt('boolean'), arguments: opt('object') },
  bindings: {
    vhost: opt('string'),
    source: req('string'),
    destination: req('string'),
    destination_type: opt('string'),
    routing_key: opt('string'),
    arguments: opt('object'),
  },
};

function kindOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return kindOf(v) === 'object';
}

/**
 * Checks a parsed JSON document and fills defaults (false, '' and {}). Returns the definitions,
 * or every problem by path (`queues[2].durable: must be a boolean, got string`).
 */
export function checkDefinitions(doc: unknown): { definitions: Definitions; problems: [] } | { definitions: null; problems: string[] } {
  const problems: string[] = [];
  if (!isObject(doc)) return { definitions: null, problems: [`definitions must be a JSON object, got ${kindOf(doc)}`] };
  const rabbit: Partial<Record<RabbitSection, unknown>> = {};
  for (const key of Object.keys(doc)) {
    if ((RABBIT_SECTIONS as readonly string[]).includes(key)) rabbit[key as RabbitSection] = doc[key];
    else if (key !== 'skiff_version' && !(key in SHAPES)) problems.push(`unknown key '${key}' (expected exchanges, queues, bindings, or a section of RabbitMQ's export)`);
  }
  const out: Record<string, unknown[]> = {};
  for (const [section, shape] of Object.entries(SHAPES)) {
    const list = doc[section] ?? [];
    out[section] = [];
    if (!Array.isArray(list)) {
      problems.push(`${section}: must be an array, got ${kindOf(list)}`);
      continue;
    }
    list.forEach((item: unknown, i: number) => {
      const at = `${section}[${i}]`;
      if (!isObject(item)) return problems.push(`${at}: must be an object, got ${kindOf(item)}`);
      const filled: Record<string, unknown> = {};
      for (const key of Object.keys(item)) if (!(key in shape)) problems.push(`${at}: unknown key '${key}'`);
      for (const [key, f] of Object.entries(shape)) {
        const v = item[key];
        if (v === undefined) {
          if (f.required) problems.push(`${at}.${key}: is required`);
          // vhost and type stay absent when absent: `/` and classic.
          if (key !== 'vhost' && key !== 'type') filled[key] = f.kind === 'boolean' ? false : f.kind === 'object' ? {} : key === 'destination_type' ? 'queue' : '';
        } else if (kindOf(v) !== f.kind) {
          problems.push(`${at}.${key}: must be ${f.kind === 'object' ? 'an object' : `a ${f.kind}`}, got ${kindOf(v)}`);
        } else {
          filled[key] = v;
        }
      }
      if (section === 'bindings' && filled['destination_type'] !== 'queue' && filled['destination_type'] !== 'exchange') {
        problems.push(`${at}.destination_type: must be 'queue' or 'exchange', got '${String(filled['destination_type'])}'`);
      }
      return out[section]?.push(filled);
    });
  }
  if (problems.length !== 0) return { definitions: null, problems };
  const defs = out as unknown as Definitions;
  if (typeof doc['skiff_version'] === 'string') defs.skiff_version = doc['skiff_version'];
  if (Object.keys(rabbit).length !== 0) defs.rabbit = rabbit;
  return { definitions: defs, problems: [] };
}

/** Number of declarations an import makes: the progress bar's total. */
export function definitionsCount(defs: Definitions): number {
  return defs.exchanges.length + defs.queues.length + defs.bindings.length;
}

/**
 * A map with its keys in sorted order, nested maps too: the broker keeps arguments in whatever
 * order they arrived (a restart reads them back from JSON), and an export kept in git should
 * change only when the definitions do.
 */
function sortedKeys<T>(value: T): T {
  if (value === null || typeof value !== 'object' || value instanceof Uint8Array) return value;
  if (Array.isArray(value)) return value.map((v: unknown) => sortedKeys(v)) as T;
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(value).sort()) out[k] = sortedKeys((value as Record<string, unknown>)[k]);
  return out as T;
}
