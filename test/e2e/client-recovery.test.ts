import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { StaleDeliveryError, connect, type Connection, type Message } from '../../src/client/index.js';
import { spawnDaemon, stopAllDaemons, type DaemonProcess } from '../helpers/cli.js';
import { FaultProxy } from '../helpers/fault-proxy.js';
import { startServer } from '../helpers/server.js';
import { failOnUnhandledRejections } from '../helpers/unhandled.js';
import { deferred, waitFor, within } from '../helpers/wait.js';

failOnUnhandledRejections();
afterAll(stopAllDaemons);

const RECONNECT = { initialDelayMs: 10, maxDelayMs: 100 };

describe('a daemon killed with SIGKILL and restarted', () => {
  it('under a confirmed publisher and a consumer: every confirmed message is consumed, and both carry on', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'skiff-client-crash-'));
    let daemon: DaemonProcess = await spawnDaemon([], { dataDir });
    const port = daemon.port;
    const url = `skiff://guest:guest@127.0.0.1:${port}`;
    const pubConn = await connect(url, { heartbeatMs: 0, reconnect: RECONNECT });
    const subConn = await connect(url, { heartbeatMs: 0, reconnect: RECONNECT });
    try {
      const reconnects = { pub: 0, sub: 0 };
      pubConn.on('reconnected', () => reconnects.pub++);
      subConn.on('reconnected', () => reconnects.sub++);
      const pub = await pubConn.channel();
      await pub.declareQueue('crash.q', { durable: true });
      await pub.confirmSelect();

      const confirmed = new Set<string>();
      const retried: string[] = [];
      let restarted = false;
      let afterRestart = 0;
      let stop = false;
      const publishing = (async () => {
        for (let i = 0; !stop; i++) {
          const id = `m${i}`;
          // At least once: a publish whose confirm was lost with the connection is sent again.
          for (;;) {
            try {
              await pub.publish('', 'crash.q', id, { persistent: true });
              break;
            } catch (err) {
              if (!(err as { retriable?: boolean }).retriable) throw err;
              retried.push(id);
            }
          }
          confirmed.add(id);
          if (restarted) afterRestart++;
        }
      })();

      const consumed = new Set<string>();
      let consumedAfterRestart = 0;
      const sub = await subConn.channel();
      const consuming = (async () => {
        for await (const m of sub.messages('crash.q', { prefetch: 50 })) {
          consumed.add(m.text());
          if (restarted) consumedAfterRestart++;
          try {
            m.ack();
          } catch (err) {
            // Delivered just before the kill: it comes again.
            if (!(err instanceof StaleDeliveryError)) throw err;
          }
        }
      })();

      await waitFor(() => confirmed.size >= 300 && consumed.size >= 100, 'traffic before the kill', 20_000);
      daemon.proc.kill('SIGKILL');
      expect(await daemon.stop()).toBeNull(); // killed by the signal: no exit code
      daemon = await spawnDaemon(['--port', String(port)], { dataDir });
      restarted = true;
      await waitFor(() => afterRestart >= 300 && consumedAfterRestart >= 300, 'publisher and consumer to resume after the restart', 20_000);
      stop = true;
      await within(publishing, 'the publisher to stop');
      const everyConfirmed = (): boolean => [...confirmed].every((id) => consumed.has(id));
      await waitFor(everyConfirmed, 'every confirmed message to be consumed', 20_000);
      expect([...confirmed].filter((id) => !consumed.has(id))).toEqual([]);
      expect(reconnects).toEqual({ pub: 1, sub: 1 });
      await subConn.close();
      await within(consuming, 'the consumer loop to end');
    } finally {
      await pubConn.close();
      await subConn.close();
      await daemon.stop('SIGKILL');
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

/**
 * Counts live timers, ref'd or not (the process's resource list leaves out unref'd ones, such
 * as heartbeat intervals): each setTimeout until it fires or is cleared, each setInterval until
 * it is cleared.
 */
function countTimers(): { live(): number; restore(): void } {
  const g = globalThis as unknown as Record<string, (...a: unknown[]) => unknown>;
  const orig = { setTimeout: g['setTimeout'], clearTimeout: g['clearTimeout'], setInterval: g['setInterval'], clearInterval: g['clearInterval'] } as Record<
    string,
    (...a: unknown[]) => unknown
  >;
  const live = new Set<unknown>();
  g['setTimeout'] = (fn: unknown, ...rest: unknown[]) => {
    const t: unknown = orig['setTimeout']?.((...a: unknown[]) => {
      live.delete(t);
      (fn as (...x: unknown[]) => void)(...a);
    }, ...rest);
    live.add(t);
    return t;
  };
  g['setInterval'] = (...a: unknown[]) => {
    const t = orig['setInterval']?.(...a);
    live.add(t);
    return t;
  };
  g['clearTimeout'] = (t: unknown) => {
    live.delete(t);
    return orig['clearTimeout']?.(t);
  };
  g['clearInterval'] = (t: unknown) => {
    live.delete(t);
    return orig['clearInterval']?.(t);
  };
  return {
    live: () => live.size,
    restore: () => Object.assign(g, orig),
  };
}

describe('100 reconnects', () => {
  it('leave no listener, timer, socket, session or channel behind', async () => {
    const timers = countTimers();
    const ts = await startServer();
    const proxy = await FaultProxy.start(ts.port);
    const conn: Connection = await connect(proxy.url, { heartbeatMs: 1000, reconnect: { initialDelayMs: 0, maxDelayMs: 0, jitter: 0 } });
    try {
      const ch = await conn.channel();
      await ch.declareQueue('leak.q', { exclusive: true });
      await ch.declareExchange('leak.x', 'fanout');
      await ch.bindQueue('leak.q', 'leak.x');
      await ch.confirmSelect();
      const got: string[] = [];
      let wake = (): void => undefined;
      const loop = (async () => {
        for await (const m of ch.messages('leak.q', { prefetch: 10 })) {
          got.push(m.text());
          m.ack();
          wake();
        }
      })();
      conn.on('disconnected', () => undefined);

      const cycle = async (i: number): Promise<void> => {
        const back = deferred();
        conn.once('reconnected', () => back.resolve());
        proxy.cut();
        await within(back.promise, `reconnect ${i}`);
        await ch.publish('leak.x', '', `r${i}`);
        while (!got.includes(`r${i}`)) await within(new Promise<void>((r) => (wake = r)), `delivery ${i}`);
      };
      const count = () => {
        const resources = process.getActiveResourcesInfo();
        return {
          timers: timers.live(),
          sockets: resources.filter((r) => r === 'TCPSocketWrap').length,
          listeners: conn.listenerCount(),
          proxied: proxy.open,
          sessions: ts.broker.sessions.size,
          consumers: ts.broker.stats().consumers,
          queues: ts.broker.queues.size,
        };
      };
      await cycle(0);
      const settle = async (want: ReturnType<typeof count>) => {
        // Closed sockets leave the resource list a turn or two after 'close'.
        await waitFor(() => JSON.stringify(count()) === JSON.stringify(want), `resources back to ${JSON.stringify(want)} (now ${JSON.stringify(count())})`).catch(() => undefined);
        return count();
      };
      const before = await settle(count());
      for (let i = 1; i <= 100; i++) await cycle(i);
      const after = await settle(before);
      expect(after).toEqual(before);
      // The client's heartbeat interval, and the server's for the same connection.
      expect(before).toMatchObject({ timers: 2, sessions: 1, consumers: 1, listeners: 1, proxied: 1 });
      expect(proxy.accepted).toBe(102);
      expect(got.length).toBe(101);
      await conn.close();
      await within(loop, 'the loop to end');
    } finally {
      timers.restore();
      await conn.close();
      await proxy.close();
      await ts.stop();
    }
  });
});

export type { Message };
