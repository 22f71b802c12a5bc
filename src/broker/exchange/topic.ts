import { Exchange, type Destination } from './exchange.js';

/** One level of the binding trie: a word, `*` or `#` led here. */
class Node {
  readonly words = new Map<string, Node>();
  star: Node | null = null;
  hash: Node | null = null;
  /** Destinations whose binding key ends here, with how many of their keys do. */
  dests: Map<Destination, number> | null = null;

  get empty(): boolean {
    return this.words.size === 0 && this.star === null && this.hash === null && this.dests === null;
  }
}

/** Routing keys remembered with their result; all forgotten on any bind or unbind, or when full. */
const CACHE_SIZE = 4096;

/**
 * Splits a key into words as RabbitMQ does: `""` is zero words, and every `.` separates two
 * words, which may be empty (`"a..b"` is three words, the middle one empty).
 */
function words(key: string): string[] {
  return key === '' ? [] : key.split('.');
}

/**
 * Routes on dot-separated routing keys against binding keys with wildcards (SPEC §3.3): `*`
 * matches exactly one word, `#` zero or more. Bindings live in a trie, so a message costs a
 * walk proportional to its words and the wildcards on the way, not to the number of bindings;
 * recently seen routing keys are answered from a small cache (market data repeats its keys).
 */
export class TopicExchange extends Exchange {
  readonly type = 'topic';
  private readonly root = new Node();
  private cache = new Map<string, readonly Destination[]>();

  route(routingKey: string): Iterable<Destination> {
    const hit = this.cache.get(routingKey);
    if (hit !== undefined) return hit;
    const found = new Found();
    match(this.root, words(routingKey), 0, found);
    const result = found.list;
    // Start over when full: evicting the oldest entry one by one makes V8's Map skip an ever
    // longer run of deleted slots on each eviction.
    if (this.cache.size >= CACHE_SIZE) this.cache = new Map();
    this.cache.set(routingKey, result);
    return result;
  }

  protected added(dest: Destination, routingKey: string): void {
    let node = this.root;
    for (const w of pattern(routingKey)) {
      let next: Node | null | undefined;
      if (w === '#') next = node.hash ??= new Node();
      else if (w === '*') next = node.star ??= new Node();
      else {
        next = node.words.get(w);
        if (next === undefined) node.words.set(w, (next = new Node()));
      }
      node = next;
    }
    node.dests ??= new Map();
    node.dests.set(dest, (node.dests.get(dest) ?? 0) + 1);
    this.cache = new Map();
  }

  protected removed(dest: Destination, routingKey: string): void {
    const path: { parent: Node; word: string }[] = [];
    let node: Node | null | undefined = this.root;
    for (const w of pattern(routingKey)) {
      const parent: Node = node;
      node = w === '#' ? parent.hash : w === '*' ? parent.star : parent.words.get(w);
      if (node === null || node === undefined) return;
      path.push({ parent, word: w });
    }
    const n = node.dests?.get(dest);
    if (n === undefined || node.dests === null) return;
    if (n > 1) node.dests.set(dest, n - 1);
    else node.dests.delete(dest);
    if (node.dests.size === 0) node.dests = null;
    // Prune the branch back to the first node still in use, so unbinding frees memory.
    for (let i = path.length - 1; i >= 0 && node.empty; i--) {
      const { parent, word } = path[i] as { parent: Node; word: string };
      if (word === '#') parent.hash = null;
      else if (word === '*') parent.star = null;
      else parent.words.delete(word);
      node = parent;
    }
    this.cache = new Map();
  }
}

/** A binding key's words; consecutive `#`s mean the same as one, and would only cost time. */
function pattern(key: string): string[] {
  const ws = words(key);
  return ws.filter((w, i) => !(w === '#' && ws[i - 1] === '#'));
}

/**
 * The destinations found for one routing key, each once. Results are usually few, so a linear
 * duplicate check beats a Set per message; past a handful a Set takes over the checking.
 */
class Found {
  readonly list: Destination[] = [];
  private seen: Set<Destination> | null = null;

  add(d: Destination): void {
    const list = this.list;
    if (this.seen !== null) {
      if (this.seen.has(d)) return;
      this.seen.add(d);
    } else if (list.length !== 0 && list.includes(d)) {
      return;
    } else if (list.length === 16) {
      this.seen = new Set(list).add(d);
    }
    list.push(d);
  }
}

/** Collects the destinations of the bindings that match `ws` from word `i` on. */
function match(node: Node, ws: readonly string[], i: number, out: Found): void {
  const hash = node.hash;
  if (hash !== null) {
    // `#` takes zero or more of the remaining words.
    for (let j = i; j <= ws.length; j++) match(hash, ws, j, out);
  }
  if (i === ws.length) {
    if (node.dests !== null) for (const d of node.dests.keys()) out.add(d);
    return;
  }
  const next = node.words.get(ws[i] as string);
  if (next !== undefined) match(next, ws, i + 1, out);
  if (node.star !== null) match(node.star, ws, i + 1, out);
}
