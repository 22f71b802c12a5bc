import { Readable } from 'node:stream';
import type { FastifyReply } from 'fastify';
import { HttpError, badRequest } from './errors.js';

/** RabbitMQ's limits: 100 rows a page unless asked, at most 500. */
export const DEFAULT_PAGE_SIZE = 100;
export const MAX_PAGE_SIZE = 500;
/**
 * Rows built or serialised between two turns of the event loop (about a millisecond's work), so
 * a long listing never holds message traffic up for long.
 */
const ROWS_PER_TURN = 128;

/** The query parameters every list endpoint takes (RabbitMQ's management API). */
export interface ListParams {
  /** 1-based; null = no pagination (a plain array reply). */
  page: number | null;
  pageSize: number;
  /** Keep rows whose name contains this (case-insensitive), or matches it with `use_regex=true`. */
  name: RegExp | string | null;
  /** Dotted paths to keep in each row (`name,message_stats.publish_details.rate`); null = all. */
  columns: string[][] | null;
  /** A dotted path to sort by before the default order; null = the default order. */
  sort: string | null;
  sortReverse: boolean;
}

function integer(v: unknown): number | null {
  if (v === undefined) return null;
  if (typeof v !== 'string' || !/^-?\d{1,9}$/.test(v)) throw badRequest('Pagination parameters are invalid');
  return Number(v);
}

/** Reads and checks the list parameters; a bad one is 400 with RabbitMQ's words for it. */
export function parseListParams(query: Record<string, unknown>): ListParams {
  const page = integer(query['page']);
  const size = integer(query['page_size']);
  if (page !== null && (page < 1 || (size !== null && (size < 1 || size > MAX_PAGE_SIZE)))) {
    throw new HttpError(400, 'invalid_pagination_parameters', `Invalid pagination parameters: page number ${page}, page size ${size ?? DEFAULT_PAGE_SIZE}`);
  }
  let name: RegExp | string | null = null;
  const rawName = query['name'];
  if (typeof rawName === 'string' && rawName !== '') {
    if (query['use_regex'] === 'true') {
      try {
        name = new RegExp(rawName, 'i');
      } catch (err) {
        throw badRequest(`name: invalid regular expression: ${(err as Error).message}`);
      }
    } else name = rawName.toLowerCase();
  }
  const cols = query['columns'];
  const sort = query['sort'];
  return {
    page,
    pageSize: size ?? DEFAULT_PAGE_SIZE,
    name,
    columns: typeof cols === 'string' && cols !== '' ? cols.split(',').filter((c) => c !== '').map((c) => c.split('.')) : null,
    sort: typeof sort === 'string' && sort !== '' ? sort : null,
    sortReverse: query['sort_reverse'] === 'true',
  };
}

/** What a list endpoint lists: the objects, how to name them, and how to turn one into a row. */
export interface Listing<I> {
  items: Iterable<I>;
  /** The name the `name` filter and the default order read, without building the row. */
  name(item: I): string;
  /** The vhost, for the default order (`vhost`, then `name`). */
  vhost(item: I): string;
  row(item: I): Record<string, unknown>;
}

export type Row = Record<string, unknown>;

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * Filters, sorts, pages, builds and sends a listing. The order by name and vhost needs no rows,
 * so a paged listing builds only its page; sorting by any other field builds every row first.
 * Long listings are built and serialised a few hundred rows per event-loop turn.
 */
export async function sendListing<I>(reply: FastifyReply, listing: Listing<I>, p: ListParams): Promise<FastifyReply> {
  let items = [...listing.items];
  const total = items.length;
  if (p.name !== null) {
    const f = p.name;
    items = items.filter(typeof f === 'string' ? (i) => listing.name(i).toLowerCase().includes(f) : (i) => f.test(listing.name(i)));
  }
  let rows: Row[] | null = null;
  const byName = (a: I, b: I): number => compare(listing.vhost(a), listing.vhost(b)) || compare(listing.name(a), listing.name(b));
  if (p.sort === null || p.sort === 'name' || p.sort === 'vhost') items.sort(byName);
  else {
    rows = await buildRows(listing, items);
    const path = p.sort.split('.');
    const keyed = rows.map((row, i) => ({ row, item: items[i] as I, key: dotted(row, path) }));
    keyed.sort((a, b) => compareValues(a.key, b.key) || byName(a.item, b.item));
    rows = keyed.map((k) => k.row);
  }
  if (p.sortReverse) {
    items.reverse();
    rows?.reverse();
  }
  const filtered = items.length;
  if (p.page === null) {
    rows ??= await buildRows(listing, items);
    return sendRows(reply, rows, p.columns, null);
  }
  const pageCount = Math.ceil(filtered / p.pageSize);
  if (filtered !== 0 && p.page > pageCount) {
    throw new HttpError(400, 'page_out_of_range', `Page out of range, page: ${p.page} page size: ${p.pageSize}, len: ${filtered}`);
  }
  const start = (p.page - 1) * p.pageSize;
  const page = rows === null ? await buildRows(listing, items.slice(start, start + p.pageSize)) : rows.slice(start, start + p.pageSize);
  return sendRows(reply, page, p.columns, {
    filtered_count: filtered,
    item_count: page.length,
    page: p.page,
    page_count: pageCount,
    page_size: p.pageSize,
    total_count: total,
  });
}

async function buildRows<I>(listing: Listing<I>, items: readonly I[]): Promise<Row[]> {
  const rows: Row[] = new Array(items.length);
  for (let i = 0; i < items.length; i++) {
    if (i !== 0 && i % ROWS_PER_TURN === 0) await tick();
    rows[i] = listing.row(items[i] as I);
  }
  return rows;
}

/** Sends rows as JSON: small listings at once, long ones streamed a chunk per event-loop turn. */
function sendRows(reply: FastifyReply, rows: Row[], columns: string[][] | null, paging: Row | null): FastifyReply {
  const shown = columns === null ? rows : rows.map((r) => pick(r, columns) as Row);
  reply.header('cache-control', 'no-cache').type('application/json; charset=utf-8');
  if (shown.length <= ROWS_PER_TURN) {
    return reply.send(JSON.stringify(paging === null ? shown : { ...paging, items: shown }));
  }
  const head = paging === null ? '[' : `${JSON.stringify(paging).slice(0, -1)},"items":[`;
  const tail = paging === null ? ']' : ']}';
  // Returning the reply tells fastify the response is on its way (the stream ends it).
  return reply.send(Readable.from(chunks(shown, head, tail), { objectMode: false }));
}

async function* chunks(rows: Row[], head: string, tail: string): AsyncGenerator<string> {
  yield head;
  for (let i = 0; i < rows.length; i += ROWS_PER_TURN) {
    if (i !== 0) await tick();
    // One stringify per chunk, without its brackets, is cheaper than one per row.
    const s = JSON.stringify(rows.slice(i, i + ROWS_PER_TURN));
    yield (i === 0 ? '' : ',') + s.slice(1, -1);
  }
  yield tail;
}

/**
 * Keeps the parts of `value` the columns name (RabbitMQ's `columns`): a column `a.b` keeps key
 * `a`, and within it `b`; a column naming a key whole keeps all of it.
 */
export function pick(value: unknown, columns: string[][]): unknown {
  if (Array.isArray(value)) return value.map((v) => pick(v, columns));
  if (value === null || typeof value !== 'object') return value;
  const out: Row = {};
  for (const [k, v] of Object.entries(value)) {
    const sub = columns.filter((c) => c[0] === k);
    if (sub.length === 0) continue;
    out[k] = sub.some((c) => c.length === 1) ? v : pick(v, sub.map((c) => c.slice(1)));
  }
  return out;
}

function dotted(row: Row, path: readonly string[]): unknown {
  let v: unknown = row;
  for (const k of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Row)[k];
  }
  return v;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Missing values first (as 0, RabbitMQ's rule), then numbers, then booleans, then strings. */
function compareValues(a: unknown, b: unknown): number {
  const ra = rank(a);
  const rb = rank(b);
  if (ra !== rb) return ra - rb;
  if (ra === 0) return (num(a) - num(b)) || 0;
  if (ra === 2) return compare(String(a), String(b));
  return 0;
}

function rank(v: unknown): number {
  if (v === undefined || v === null || typeof v === 'number' || typeof v === 'boolean') return 0;
  if (typeof v === 'string') return 2;
  return 3;
}

function num(v: unknown): number {
  return typeof v === 'number' ? v : v === true ? 1 : 0;
}
