import { ProtocolError, ReplyCode, unpackProperties } from '../../../protocol/index.js';
import { storedHeaders } from '../../../protocol/amqp/content.js';
import { show } from '../queue-args.js';
import { isAmqpContent } from '../stored-content.js';
import { Exchange, type Destination } from './exchange.js';

type XMatch = 'all' | 'any' | 'all-with-x' | 'any-with-x';
const X_MATCH: readonly string[] = ['all', 'any', 'all-with-x', 'any-with-x'];

interface Rule {
  /** The binding's id, to find the rule again on unbind. */
  readonly id: string;
  readonly dest: Destination;
  readonly all: boolean;
  /** Binding arguments to compare with the message's headers. */
  readonly pairs: readonly (readonly [string, unknown])[];
}

/**
 * Routes on message headers instead of the routing key (SPEC §3.3): a binding matches when all
 * (`x-match: all`, the default) or any (`x-match: any`) of its arguments equal the message's
 * headers of the same name; a nil argument matches any value of a present header. Arguments
 * starting `x-` take no part unless `x-match` is `all-with-x` / `any-with-x` (RabbitMQ).
 * The header map is decoded once per message, and only for exchanges of this type.
 */
export class HeadersExchange extends Exchange {
  readonly type = 'headers';
  private rules: Rule[] = [];

  override checkBindingArguments(args: Record<string, unknown>): void {
    const m = args['x-match'];
    if (m !== undefined && (typeof m !== 'string' || !X_MATCH.includes(m))) {
      throw new ProtocolError(
        ReplyCode.PRECONDITION_FAILED,
        `invalid arg 'x-match' for binding to exchange '${this.name}' in vhost '${this.vhost}': expected 'all', 'any', 'all-with-x' or 'any-with-x', got ${show(m)}`,
      );
    }
  }

  override bindingId(routingKey: string, args: Record<string, unknown>): string {
    return `${routingKey}\u0000${canonical(args)}`;
  }

  route(_routingKey: string, content: Buffer): Iterable<Destination> {
    if (this.rules.length === 0) return Exchange.EMPTY;
    const headers = messageHeaders(content);
    const out = new Set<Destination>();
    for (const r of this.rules) if (!out.has(r.dest) && matches(r, headers)) out.add(r.dest);
    return out;
  }

  protected added(dest: Destination, routingKey: string, args: Record<string, unknown>): void {
    const mode = (args['x-match'] as XMatch | undefined) ?? 'all';
    const withX = mode.endsWith('-with-x');
    const pairs = Object.entries(args).filter(([k]) => k !== 'x-match' && (withX || !k.startsWith('x-')));
    // A new array rather than a push: a route() iterating the old one is never disturbed.
    this.rules = [...this.rules, { id: this.bindingId(routingKey, args), dest, all: mode.startsWith('all'), pairs }];
  }

  protected removed(dest: Destination, routingKey: string, args: Record<string, unknown>): void {
    const id = this.bindingId(routingKey, args);
    this.rules = this.rules.filter((r) => r.dest !== dest || r.id !== id);
  }
}

function matches(r: Rule, headers: Record<string, unknown>): boolean {
  if (r.all) {
    for (const [k, v] of r.pairs) {
      if (!Object.hasOwn(headers, k) || (v !== null && !same(v, headers[k]))) return false;
    }
    return true;
  }
  for (const [k, v] of r.pairs) {
    if (Object.hasOwn(headers, k) && (v === null || same(v, headers[k]))) return true;
  }
  return false;
}

/** The `headers` property of a stored message (either form, as native values), or an empty map. */
function messageHeaders(content: Buffer): Record<string, unknown> {
  const size = content.readUInt32BE(0);
  if (size === 0) return {};
  if (isAmqpContent(content)) {
    // Checked by the AMQP decoder on the way in; bytes that still do not decode have no headers.
    try {
      return storedHeaders(content);
    } catch {
      return {};
    }
  }
  const h = unpackProperties(content.subarray(4, 4 + size))['headers'];
  return h !== null && typeof h === 'object' && !Array.isArray(h) ? (h as Record<string, unknown>) : {};
}

function same(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') return false;
  return canonical(a) === canonical(b);
}

/** A stable text form of a msgpack value: map keys sorted, so equal maps compare equal. */
function canonical(v: unknown): string {
  if (Buffer.isBuffer(v)) return `b:${v.toString('hex')}`;
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical(o[k])}`)
      .join(',')}}`;
  }
  return v === undefined ? 'nil' : JSON.stringify(v);
}
