/**
 * The few etcd v3 calls the cluster needs, over etcd's JSON gateway (`/v3/...`) with fetch: a
 * lease, its keepalive, a create-if-absent and a fenced put in transactions, reads and deletes.
 * No client library: these six calls are the whole surface, and the gateway ships with every
 * etcd since 3.3 (Debian's etcd-server included), so Skiff adds no gRPC stack for them.
 */

/** A key as etcd keeps it. */
export interface EtcdKv {
  readonly key: string;
  readonly value: string;
  /** The revision that created the key: the leader key's is the leader's term (fencing token). */
  readonly createRevision: number;
  readonly modRevision: number;
  readonly lease: string;
}

export class EtcdError extends Error {
  readonly code = 'ERR_ETCD';
}

const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');
const unb64 = (s: string | undefined): string => (s === undefined ? '' : Buffer.from(s, 'base64').toString('utf8'));

interface RawKv {
  key?: string;
  value?: string;
  create_revision?: string;
  mod_revision?: string;
  lease?: string;
}

function kvOf(r: RawKv): EtcdKv {
  return {
    key: unb64(r.key),
    value: unb64(r.value),
    createRevision: Number(r.create_revision ?? 0),
    modRevision: Number(r.mod_revision ?? 0),
    lease: r.lease ?? '0',
  };
}

export class Etcd {
  private readonly endpoints: string[];
  private readonly timeoutMs: number;
  /** The endpoint that answered last; tried first next time. */
  private current = 0;

  constructor(endpoints: readonly string[], timeoutMs = 2000) {
    if (endpoints.length === 0) throw new EtcdError('no etcd endpoints');
    this.endpoints = endpoints.map((e) => e.replace(/\/+$/, ''));
    this.timeoutMs = timeoutMs;
  }

  /** One gateway call, trying each endpoint in turn from the one that answered last. */
  private async call(path: string, body: unknown, timeoutMs = this.timeoutMs): Promise<Record<string, unknown>> {
    let last: Error | null = null;
    for (let i = 0; i < this.endpoints.length; i++) {
      const at = (this.current + i) % this.endpoints.length;
      const url = `${this.endpoints[at] as string}${path}`;
      try {
        const res = await fetch(url, { method: 'POST', body: JSON.stringify(body), signal: AbortSignal.timeout(timeoutMs) });
        const text = await res.text();
        if (!res.ok) throw new EtcdError(`etcd ${url} answered ${res.status}: ${text.slice(0, 200)}`);
        this.current = at;
        const parsed = JSON.parse(text) as Record<string, unknown>;
        if (parsed['error'] !== undefined) throw new EtcdError(`etcd ${url}: ${JSON.stringify(parsed['error']).slice(0, 200)}`);
        return parsed;
      } catch (err) {
        last = err instanceof EtcdError ? err : new EtcdError(`etcd ${url}: ${(err as Error).message}`, { cause: err });
      }
    }
    throw last as Error;
  }

  /** A lease of `ttlS` seconds; resolves with its id (a decimal string: etcd ids are 64-bit). */
  async grant(ttlS: number): Promise<{ id: string; ttlS: number }> {
    const r = await this.call('/v3/lease/grant', { TTL: ttlS });
    return { id: String(r['ID']), ttlS: Number(r['TTL']) };
  }

  /** Renews a lease; resolves with its remaining TTL in seconds, 0 once it has expired. */
  async keepAlive(id: string, timeoutMs: number): Promise<number> {
    const r = await this.call('/v3/lease/keepalive', { ID: id }, timeoutMs);
    const result = r['result'] as { TTL?: string } | undefined;
    return Number(result?.TTL ?? 0);
  }

  async revoke(id: string): Promise<void> {
    await this.call('/v3/lease/revoke', { ID: id });
  }

  async get(key: string): Promise<EtcdKv | null> {
    const r = await this.call('/v3/kv/range', { key: b64(key) });
    const kvs = r['kvs'] as RawKv[] | undefined;
    return kvs === undefined || kvs.length === 0 ? null : kvOf(kvs[0] as RawKv);
  }

  /** Every key under `prefix`. */
  async list(prefix: string): Promise<EtcdKv[]> {
    const end = Buffer.from(prefix, 'utf8');
    end[end.length - 1] = (end[end.length - 1] as number) + 1;
    const r = await this.call('/v3/kv/range', { key: b64(prefix), range_end: end.toString('base64') });
    return ((r['kvs'] as RawKv[] | undefined) ?? []).map(kvOf);
  }

  async put(key: string, value: string, lease = '0'): Promise<void> {
    await this.call('/v3/kv/put', { key: b64(key), value: b64(value), lease });
  }

  async delete(key: string): Promise<void> {
    await this.call('/v3/kv/deleterange', { key: b64(key) });
  }

  /**
   * Creates `key` bound to `lease` unless it exists: resolves with whether it was created, and
   * the key as it now is (ours, or the holder's).
   */
  async createIfAbsent(key: string, value: string, lease: string): Promise<{ created: boolean; kv: EtcdKv | null }> {
    const k = b64(key);
    const r = await this.call('/v3/kv/txn', {
      compare: [{ target: 'CREATE', key: k, createRevision: '0' }],
      success: [{ requestPut: { key: k, value: b64(value), lease } }, { requestRange: { key: k } }],
      failure: [{ requestRange: { key: k } }],
    });
    const created = r['succeeded'] === true;
    const responses = (r['responses'] as { response_range?: { kvs?: RawKv[] } }[] | undefined) ?? [];
    const range = responses.find((x) => x.response_range !== undefined)?.response_range;
    const kv = range?.kvs?.[0];
    return { created, kv: kv === undefined ? null : kvOf(kv) };
  }

  /** Puts `key` only while `guard` still has create revision `guardRevision` (a fenced write). */
  async putIfHeld(key: string, value: string, guard: string, guardRevision: number, lease = '0'): Promise<boolean> {
    const r = await this.call('/v3/kv/txn', {
      compare: [{ target: 'CREATE', key: b64(guard), createRevision: String(guardRevision) }],
      success: [{ requestPut: { key: b64(key), value: b64(value), lease } }],
      failure: [],
    });
    return r['succeeded'] === true;
  }
}
