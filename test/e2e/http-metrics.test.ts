import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { request, startHttpDaemon, type HttpDaemon } from '../helpers/http.js';
import { waitFor } from '../helpers/wait.js';

/** Prometheus exposition from the real daemon: names modelled on RabbitMQ's, values read at scrape time. */

/** `name{labels}` → value, from the text format. */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    out.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return out;
}

let d: HttpDaemon;
let dataDir: string;

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'skiff-metrics-'));
  d = await startHttpDaemon({ store: { dataDir }, memoryHighWatermark: 1 << 30, diskFreeLimit: 1000 });
});
afterAll(async () => {
  await d.stop();
  rmSync(dataDir, { recursive: true, force: true });
});
beforeEach(() => {
  expect.hasAssertions();
});

async function scrape(path = '/metrics'): Promise<Map<string, number>> {
  const r = await d.get(path);
  expect(r.status).toBe(200);
  expect(r.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
  return samples(r.text);
}

describe('/metrics, aggregated', () => {
  it('node, queue and message metrics, one value each, read when scraped', async () => {
    const conn = await d.client();
    const ch = await conn.channel();
    await ch.confirmSelect();
    await ch.declareQueue('m.q', { durable: true });
    for (let i = 0; i < 3; i++) await ch.publish('', 'm.q', 'abc', { persistent: true });
    await ch.get('m.q');
    const m = await scrape();
    expect({
      connections: m.get('skiff_connections'),
      channels: m.get('skiff_channels'),
      queues: m.get('skiff_queues'),
      ready: m.get('skiff_queue_messages_ready'),
      unacked: m.get('skiff_queue_messages_unacked'),
      messages: m.get('skiff_queue_messages'),
      consumers: m.get('skiff_queue_consumers'),
      published: m.get('skiff_queue_messages_published_total'),
      received: m.get('skiff_global_messages_received_total'),
      receivedConfirm: m.get('skiff_global_messages_received_confirm_total'),
      confirmed: m.get('skiff_global_messages_confirmed_total'),
      getManual: m.get('skiff_global_messages_delivered_get_manual_ack_total'),
      channelPublished: m.get('skiff_channel_messages_published_total'),
      memLimit: m.get('skiff_resident_memory_limit_bytes'),
      diskLimit: m.get('skiff_disk_space_available_limit_bytes'),
      memAlarm: m.get('skiff_alarms_memory_used_watermark'),
      diskAlarm: m.get('skiff_alarms_free_disk_space_watermark'),
      identity: m.get(`skiff_identity_info{skiff_node="${(await d.get('/api/overview')).json.node}",skiff_cluster="${(await d.get('/api/overview')).json.node}"}`),
    }).toEqual({
      connections: 1,
      channels: 1,
      queues: 1,
      ready: 2,
      unacked: 1,
      messages: 3,
      consumers: 0,
      published: 3,
      received: 3,
      receivedConfirm: 3,
      confirmed: 3,
      getManual: 1,
      channelPublished: 3,
      memLimit: 1 << 30,
      diskLimit: 1000,
      memAlarm: 0,
      diskAlarm: 0,
      identity: 1,
    });
    expect(m.get('skiff_process_resident_memory_bytes')).toBeGreaterThan(0);
    expect(m.get('skiff_disk_space_available_bytes')).toBeGreaterThan(0);
    expect(m.get('skiff_store_checkpoint_lag_seconds')).toBeGreaterThanOrEqual(0);
    expect(m.get('skiff_store_pending_bytes')).toBeGreaterThanOrEqual(0);
    expect(m.get('skiff_process_open_fds')).toBeGreaterThan(0);
    expect([...m.keys()].some((k) => k.includes('queue="'))).toBe(false);
    await conn.close();
  });

  it('broker-wide counters never go down when channels and connections close', async () => {
    const before = await scrape();
    const conn = await d.client();
    const ch = await conn.channel();
    await ch.declareQueue('churn.q');
    for (let i = 0; i < 5; i++) await ch.publish('', 'churn.q', 'x');
    await waitFor(() => d.daemon.broker.queues.get('churn.q')?.messageCount === 5, 'five messages');
    await conn.close();
    await waitFor(() => d.daemon.broker.sessions.size === 0, 'the connection to go');
    const after = await scrape();
    const delta = (k: string): number => (after.get(k) ?? 0) - (before.get(k) ?? 0);
    expect({
      received: delta('skiff_global_messages_received_total'),
      routed: delta('skiff_global_messages_routed_total'),
      channelPublished: delta('skiff_channel_messages_published_total'),
      opened: delta('skiff_connections_opened_total'),
      closed: delta('skiff_connections_closed_total'),
      channelsClosed: delta('skiff_channels_closed_total'),
    }).toEqual({ received: 5, routed: 5, channelPublished: 5, opened: 1, closed: 1, channelsClosed: 1 });
  });
});

describe('/metrics/per-object', () => {
  it('a series per queue, channel and connection', async () => {
    const conn = await d.client('guest:guest', 'per-object');
    const ch = await conn.channel();
    await ch.declareQueue('po.q');
    for (let i = 0; i < 4; i++) await ch.publish('', 'po.q', 'x');
    await waitFor(() => d.daemon.broker.queues.get('po.q')?.messageCount === 4, 'four messages');
    const m = await scrape('/metrics/per-object');
    expect(m.get('skiff_queue_messages_ready{vhost="/",queue="po.q"}')).toBe(4);
    expect(m.get('skiff_queue_messages_published_total{vhost="/",queue="po.q"}')).toBe(4);
    const name = (await d.get('/api/connections')).json.find((c: { user_provided_name: string }) => c.user_provided_name === 'per-object').name as string;
    expect(m.get(`skiff_channel_messages_published_total{vhost="/",channel="${name} (1)"}`)).toBe(4);
    expect(m.get(`skiff_connection_incoming_bytes_total{connection="${name}"}`)).toBeGreaterThan(0);
    expect(m.get(`skiff_connection_channels{connection="${name}"}`)).toBe(1);
    await conn.close();
  });
});

describe('options', () => {
  it('metrics_prefix = "rabbitmq" names everything as RabbitMQ does, for its dashboards and alerts', async () => {
    const r = await startHttpDaemon({ http: { metricsPrefix: 'rabbitmq' } });
    try {
      const text = (await r.get('/metrics')).text;
      const m = samples(text);
      expect(m.get('rabbitmq_queue_messages_ready')).toBe(0);
      expect(m.get('rabbitmq_connections')).toBe(0);
      expect(m.has('rabbitmq_global_messages_received_total')).toBe(true);
      expect([...m.keys()].some((k) => k.startsWith('rabbitmq_identity_info{rabbitmq_node="skiff@'))).toBe(true);
      expect(text).not.toContain('skiff_');
    } finally {
      await r.stop();
    }
  });

  it('metrics need an admin unless metrics_public is on', async () => {
    expect((await d.get('/metrics', { auth: null })).status).toBe(401);
    const open = await startHttpDaemon({ http: { metricsPublic: true } });
    try {
      const r = await request(open.httpPort, 'GET', '/metrics', { auth: null });
      expect(r.status).toBe(200);
      expect(r.text).toContain('skiff_queues 0');
      expect((await request(open.httpPort, 'GET', '/api/overview', { auth: null })).status).toBe(401);
    } finally {
      await open.stop();
    }
  });
});
