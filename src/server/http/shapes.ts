import { createHash } from 'node:crypto';
import type { Channel } from '../../broker/channel.js';
import type { Consumer } from '../../broker/consumer.js';
import type { Exchange } from '../../broker/exchange/exchange.js';
import { DelayedExchange } from '../../broker/exchange/delayed.js';
import type { Queue } from '../../broker/queue.js';
import type { Session } from '../../broker/session.js';
import type { Stream } from '../../broker/stream.js';
import type { ClientConnectionView } from './host.js';
import { ChannelTotals } from '../../broker/channel-totals.js';
import { CHANNEL_FIELDS, EXCHANGE_FIELDS, QUEUE_FIELDS, channelValues, queueValues, type Meter } from './sampler.js';

/**
 * The JSON objects of RabbitMQ's management API, built from Skiff's own: the field names and
 * shapes tools read (rabbitmq_exporter, KEDA, rabbitmqadmin, Terraform's provider), with
 * counts read now and rates from the last sample.
 */

export type Json = Record<string, unknown>;

/** `{rate}`, as every `*_details` object. */
function details(rate: number): { rate: number } {
  return { rate: Math.round(rate * 100) / 100 };
}

/** Field names and their `_details` names, made once: a listing builds these for every row. */
function statKeys(fields: readonly string[]): readonly (readonly [string, string])[] {
  return fields.map((f) => [f, `${f}_details`] as const);
}
const QUEUE_STATS = statKeys(QUEUE_FIELDS.slice(0, 8));
const EXCHANGE_STATS = statKeys(EXCHANGE_FIELDS);
const CHANNEL_STATS = statKeys(CHANNEL_FIELDS);

/** `{publish: n, publish_details: {rate}, …}` for the named counters. */
function stats(keys: readonly (readonly [string, string])[], values: Float64Array, meter: Meter | undefined): Json {
  const out: Json = {};
  for (let i = 0; i < keys.length; i++) {
    const [f, d] = keys[i] as readonly [string, string];
    out[f] = values[i];
    out[d] = details(meter === undefined ? 0 : meter.rate(i));
  }
  return out;
}

/** RabbitMQ's date format for `idle_since`: `2024-01-31 12:34:56`, UTC. */
export function rabbitDate(ms: number): string {
  return new Date(ms).toISOString().slice(0, 19).replace('T', ' ');
}

/** A queue as `/api/queues` lists it; `owner` is the connection of an exclusive queue. */
export function queueJson(q: Queue, vhost: string, node: string, meter: Meter | undefined, owner: ClientConnectionView | undefined): Json {
  const v = queueValues(q);
  const exclusiveConsumer = q.consumers.find((c) => c.exclusive);
  const out: Json = {
    name: q.name,
    vhost,
    durable: q.durable,
    auto_delete: q.autoDelete,
    exclusive: q.exclusive,
    arguments: q.arguments,
    node,
    type: q.isStream ? 'stream' : 'classic',
    state: 'running',
    policy: q.appliedPolicy?.policy ?? null,
    operator_policy: q.appliedPolicy?.operatorPolicy ?? null,
    effective_policy_definition: { ...q.appliedPolicy?.definition },
    consumers: q.consumerCount,
    exclusive_consumer_tag: exclusiveConsumer?.tag ?? null,
    single_active_consumer_tag: null,
    messages: v[8],
    messages_details: details(meter?.rate(8) ?? 0),
    messages_ready: v[9],
    messages_ready_details: details(meter?.rate(9) ?? 0),
    messages_unacknowledged: v[10],
    messages_unacknowledged_details: details(meter?.rate(10) ?? 0),
    message_bytes_ready: q.readyBytes,
    head_message_timestamp: null,
    message_stats: stats(QUEUE_STATS, v, meter),
  };
  if (q.isStream) {
    // RabbitMQ's stream queue fields, and the log's range and stored consumer offsets.
    const info = (q as Stream).info;
    out['committed_offset'] = info.lastOffset;
    out['first_offset'] = info.firstOffset;
    out['segments'] = info.segments;
    out['consumer_offsets'] = info.consumerOffsets;
  }
  if (owner !== undefined) out['owner_pid_details'] = { name: owner.name, peer_host: owner.peerHost, peer_port: owner.peerPort };
  if (meter?.idleSince != null) out['idle_since'] = rabbitDate(meter.idleSince);
  return out;
}

/** An exchange as `/api/exchanges` lists it, with `publish_in` / `publish_out`. */
export function exchangeJson(x: Exchange, vhost: string, meter: Meter | undefined): Json {
  const values = new Float64Array([x.publishInTotal, x.publishOutTotal]);
  return {
    name: x.name,
    vhost,
    type: x.type,
    durable: x.durable,
    auto_delete: x.autoDelete,
    internal: x.internal,
    arguments: x.arguments,
    user_who_performed_action: 'rmq-internal',
    policy: x.appliedPolicy?.policy ?? null,
    message_stats: stats(EXCHANGE_STATS, values, meter),
    // What the delayed-message plugin adds to its exchanges' listing.
    ...(x instanceof DelayedExchange && { messages_delayed: x.schedule.count }),
  };
}

/**
 * A binding's `properties_key`, what its URL ends with: the routing key (`~` when empty), and
 * `~` and a hash of the arguments when there are any (RabbitMQ's scheme; treat it as opaque).
 */
export function propertiesKey(routingKey: string, args: Record<string, unknown>): string {
  const key = routingKey === '' ? '~' : encodeURIComponent(routingKey);
  if (Object.keys(args).length === 0) return key;
  const hash = createHash('sha256').update(stableJson(args)).digest('base64url').slice(0, 22);
  return `${key}~${hash}`;
}

function stableJson(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v) ?? 'null';
  if (Array.isArray(v)) return `[${v.map(stableJson).join(',')}]`;
  const o = v as Record<string, unknown>;
  return `{${Object.keys(o)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${stableJson(o[k])}`)
    .join(',')}}`;
}

/** A binding in the management API's terms, before its vhost and `properties_key` are added. */
export interface BindingView {
  source: string;
  destination: string;
  destination_type: 'queue' | 'exchange';
  routing_key: string;
  arguments: Record<string, unknown>;
}

/** A binding as `/api/bindings` lists it. */
export function bindingJson(b: BindingView, vhost: string): Json {
  return { ...b, vhost, properties_key: propertiesKey(b.routing_key, b.arguments) };
}

/**
 * A connection as `/api/connections` lists it. AMQP's heartbeat (`timeout`) is in seconds;
 * Skiff negotiates milliseconds, so both are given.
 */
export function connectionJson(c: ClientConnectionView, vhost: string, node: string, meter: Meter | undefined): Json {
  return {
    name: c.name,
    id: c.id,
    node,
    vhost,
    user: c.user,
    user_who_performed_action: c.user,
    user_provided_name: c.userProvidedName,
    type: 'network',
    protocol: c.protocol,
    auth_mechanism: 'PLAIN',
    ssl: false,
    host: c.host,
    port: c.port,
    peer_host: c.peerHost,
    peer_port: c.peerPort,
    state: c.blocked ? 'blocked' : 'running',
    channels: c.session?.channels.size ?? 0,
    channel_max: c.channelMax,
    frame_max: c.frameMax,
    timeout: Math.round(c.heartbeatMs / 1000),
    heartbeat_ms: c.heartbeatMs,
    connected_at: c.connectedAt,
    client_properties: c.clientProperties,
    recv_oct: c.bytesIn,
    recv_oct_details: details(meter?.rate(0) ?? 0),
    send_oct: c.bytesOut,
    send_oct_details: details(meter?.rate(1) ?? 0),
    publishes: c.publishes,
  };
}

/** `<connection name> (<number>)`: RabbitMQ's channel name, the key of `/api/channels/{name}`. */
export function channelName(connectionName: string, number: number): string {
  return `${connectionName} (${number})`;
}

/** A channel as `/api/channels` lists it, with its message statistics. */
export function channelJson(ch: Channel, conn: ClientConnectionView | undefined, session: Session, vhost: string, node: string, meter: Meter | undefined): Json {
  const connName = conn?.name ?? session.info.name;
  const values = channelValues(new ChannelTotals().add(ch));
  return {
    name: channelName(connName, ch.id),
    number: ch.id,
    node,
    vhost,
    user: session.info.user,
    state: ch.closed ? 'closing' : 'running',
    connection_details: { name: connName, peer_host: conn?.peerHost ?? session.info.peer, peer_port: conn?.peerPort ?? 0 },
    consumer_count: ch.consumers.size,
    messages_unacknowledged: ch.unackedCount,
    messages_unconfirmed: ch.confirms?.outstanding ?? 0,
    messages_uncommitted: 0,
    acks_uncommitted: 0,
    prefetch_count: ch.consumerPrefetch,
    global_prefetch_count: ch.channelPrefetch,
    confirm: ch.confirms !== null,
    transactional: false,
    message_stats: stats(CHANNEL_STATS, values, meter),
  };
}

/** A consumer as `/api/consumers` lists it. */
export function consumerJson(c: Consumer, conn: ClientConnectionView | undefined, session: Session, vhost: string): Json {
  const connName = conn?.name ?? session.info.name;
  return {
    consumer_tag: c.tag,
    queue: { name: c.queue.name, vhost },
    channel_details: {
      name: channelName(connName, c.channel.id),
      number: c.channel.id,
      connection_name: connName,
      peer_host: conn?.peerHost ?? session.info.peer,
      peer_port: conn?.peerPort ?? 0,
      user: session.info.user,
    },
    ack_required: !c.noAck,
    exclusive: c.exclusive,
    prefetch_count: c.prefetch,
    active: true,
    activity_status: 'up',
    arguments: c.priority === 0 ? {} : { 'x-priority': c.priority },
    priority: c.priority,
    unacknowledged: c.unacked,
  };
}
