import { mkdtempSync, rmSync } from 'node:fs';
import { connect as netConnect, createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { skiff, spawnDaemon, stopAllDaemons } from '../helpers/cli.js';
import { request, startHttpDaemon } from '../helpers/http.js';
import { deferred, waitFor, within } from '../helpers/wait.js';

/** Health checks, the memory and disk alarms as HTTP sees them, and the listener's configuration. */

afterAll(async () => {
  await stopAllDaemons();
});
beforeEach(() => {
  expect.hasAssertions();
});

describe('health checks', () => {
  it('alarms checks flip to 503 while the memory alarm is raised and back when it clears', async () => {
    const d = await startHttpDaemon({ memoryHighWatermark: 50_000 });
    try {
      const node = (await d.get('/api/overview')).json.node;
      expect((await d.get('/api/health/checks/alarms')).json).toEqual({ status: 'ok' });
      const conn = await d.client();
      const blocked = deferred<string>();
      conn.on('blocked', (reason: string) => blocked.resolve(reason));
      const ch = await conn.channel();
      await ch.declareQueue('fill.q');
      for (let i = 0; i < 4; i++) void ch.publish('', 'fill.q', Buffer.alloc(20_000));
      expect(await within(blocked.promise, 'connection.blocked')).toBe('memory high watermark');
      for (const path of ['/api/health/checks/alarms', '/api/health/checks/local-alarms']) {
        const r = await d.get(path);
        expect({ status: r.status, json: r.json }, path).toEqual({
          status: 503,
          json: { status: 'failed', reason: 'There are alarms in effect in the cluster', alarms: [{ node, resource: 'memory' }] },
        });
      }
      expect((await d.get('/api/healthchecks/node')).json).toEqual({ status: 'failed', reason: 'resource alarm(s) in effect: memory' });
      expect((await d.get('/api/nodes')).json[0]).toMatchObject({ mem_alarm: true, mem_limit: 50_000 });
      expect((await d.get('/metrics')).text).toContain('skiff_alarms_memory_used_watermark 1');
      const publish = await d.post('/api/exchanges/%2F/amq.default/publish', { routing_key: 'fill.q', payload: 'x' });
      expect({ status: publish.status, json: publish.json }).toEqual({ status: 503, json: { error: 'service_unavailable', reason: 'publishers are blocked (memory alarm)' } });
      expect((await d.del('/api/queues/%2F/fill.q/contents')).status).toBe(204);
      await waitFor(() => !d.daemon.broker.blocked, 'the alarm to clear');
      expect((await d.get('/api/health/checks/alarms')).json).toEqual({ status: 'ok' });
      expect((await d.get('/metrics')).text).toContain('skiff_alarms_memory_used_watermark 0');
    } finally {
      await d.stop();
    }
  });

  it('free disk under disk_free_limit raises the disk alarm: publishers blocked, checks failing', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'skiff-disk-'));
    const d = await startHttpDaemon({ store: { dataDir }, diskFreeLimit: Number.MAX_SAFE_INTEGER });
    try {
      const r = await d.get('/api/health/checks/alarms');
      expect({ status: r.status, resources: r.json.alarms.map((a: { resource: string }) => a.resource) }).toEqual({ status: 503, resources: ['disk'] });
      expect((await d.get('/api/nodes')).json[0]).toMatchObject({ disk_free_alarm: true, disk_free_limit: Number.MAX_SAFE_INTEGER, disk_free: expect.any(Number) });
      expect((await d.get('/metrics')).text).toContain('skiff_alarms_free_disk_space_watermark 1');
      const conn = await d.client();
      const blocked = deferred<string>();
      conn.on('blocked', (reason: string) => blocked.resolve(reason));
      const ch = await conn.channel();
      await ch.declareQueue('disk.q');
      void ch.publish('', 'disk.q', 'x');
      expect(await within(blocked.promise, 'connection.blocked')).toBe('disk free space below disk_free_limit');
    } finally {
      await d.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('port and protocol listeners, virtual hosts, readiness, and /health without credentials', async () => {
    const d = await startHttpDaemon();
    try {
      const amqpPort = d.daemon.amqp?.address?.port ?? 0;
      for (const port of [d.daemon.port, amqpPort, d.httpPort]) expect((await d.get(`/api/health/checks/port-listener/${port}`)).json).toEqual({ status: 'ok', port });
      const missing = await d.get('/api/health/checks/port-listener/1');
      expect({ status: missing.status, json: missing.json }).toEqual({
        status: 503,
        json: { status: 'failed', reason: 'No active listener', missing: 1, ports: [d.daemon.port, amqpPort, d.httpPort] },
      });
      expect((await d.get('/api/health/checks/port-listener/abc')).json).toEqual({ error: 'bad_request', reason: "port: must be a port number, got 'abc'" });
      expect((await d.get('/api/health/checks/protocol-listener/skiff')).json).toEqual({ status: 'ok', protocol: 'skiff' });
      expect((await d.get('/api/health/checks/protocol-listener/amqp')).json).toEqual({ status: 'ok', protocol: 'amqp' });
      expect((await d.get('/api/health/checks/protocol-listener/mqtt')).status).toBe(503);
      for (const check of ['virtual-hosts', 'ready-to-serve-clients', 'node-is-quorum-critical', 'node-is-mirror-sync-critical']) {
        expect((await d.get(`/api/health/checks/${check}`)).json, check).toEqual({ status: 'ok' });
      }
      expect((await d.get('/api/health/checks/alarms', { auth: null })).status).toBe(401);
      const health = await request(d.httpPort, 'GET', '/health', { auth: null });
      expect({ status: health.status, json: health.json }).toEqual({ status: 200, json: { status: 'ok' } });
    } finally {
      await d.stop();
    }
  });
});

describe('upgrades (for the WebSocket endpoint to come)', () => {
  it('an upgrade on a registered path reaches its handler; any other is 404 and closed', async () => {
    const d = await startHttpDaemon();
    try {
      d.daemon.http?.onUpgrade('/ws', (req, socket) => socket.end(`HTTP/1.1 101 Switching Protocols\r\nX-Path: ${req.url}\r\n\r\n`));
      const ask = (path: string): Promise<string> =>
        new Promise((resolve, reject) => {
          const s = netConnect({ host: '127.0.0.1', port: d.httpPort }, () => s.write(`GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n`));
          let text = '';
          s.setEncoding('utf8').on('data', (c: string) => (text += c));
          s.on('close', () => resolve(text));
          s.on('error', reject);
        });
      expect(await ask('/ws?x=1')).toBe('HTTP/1.1 101 Switching Protocols\r\nX-Path: /ws?x=1\r\n\r\n');
      expect(await ask('/elsewhere')).toBe('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    } finally {
      await d.stop();
    }
  });
});

interface LogLine {
  msg: string;
  port?: number;
  host?: string;
}

describe('the listener as configured by skiff server', () => {
  const lines = (d: { logLines(): string[] }): LogLine[] => d.logLines().map((l) => JSON.parse(l) as LogLine);

  it('logs "http listening" with its port before "skiff listening"; serves the dashboard from the compiled daemon', async () => {
    const d = await spawnDaemon();
    const all = lines(d);
    const http = all.find((l) => l.msg === 'http listening');
    expect(http).toMatchObject({ host: '127.0.0.1', port: expect.any(Number) });
    expect(all.findIndex((l) => l.msg === 'http listening')).toBeLessThan(all.findIndex((l) => l.msg === 'skiff listening'));
    const page = await request(http?.port as number, 'GET', '/', { auth: null });
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(page.headers['content-security-policy']).toContain("default-src 'none'");
    expect(page.text).toContain('<title>Skiff</title>');
    const again = await request(http?.port as number, 'GET', '/', { auth: null, headers: { 'if-none-match': page.headers['etag'] as string } });
    expect(again.status).toBe(304);
    expect((await request(http?.port as number, 'GET', '/dashboard/app.js', { auth: null })).headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect((await request(http?.port as number, 'GET', '/api/whoami')).json).toEqual({ name: 'guest', tags: ['administrator'] });
    await d.stop();
  });

  it('SKIFF_HTTP_ENABLED=false runs the daemon without it', async () => {
    const d = await spawnDaemon([], { env: { SKIFF_HTTP_ENABLED: 'false' } });
    expect(lines(d).some((l) => l.msg === 'http listening')).toBe(false);
    expect((await d.cli(['status'])).code).toBe(0);
    await d.stop();
  });

  it('an HTTP port already taken stops start-up with one line naming it, exit 1', async () => {
    const taken: Server = createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', () => r()));
    const port = (taken.address() as AddressInfo).port;
    const data = mkdtempSync(join(tmpdir(), 'skiff-http-taken-'));
    try {
      expect(await skiff(['server', '--port', '0', '--data', data, '--log-level', 'silent'], { env: { SKIFF_HTTP_PORT: String(port) } })).toEqual({
        code: 1,
        stdout: '',
        stderr: `skiff: cannot listen on 127.0.0.1:${port}: address already in use\n`,
      });
    } finally {
      taken.close();
      rmSync(data, { recursive: true, force: true });
    }
  });
});
