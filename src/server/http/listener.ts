import type { IncomingMessage } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import type { Logger } from '../../log/logger.js';
import type { ApiContext } from './api-context.js';
import { buildApp } from './app.js';
import { loadBrowserAssets } from './browser-client.js';
import { loadDashboardAssets } from './dashboard.js';
import type { HttpHost, ListenerView } from './host.js';
import type { HttpOptions } from './options.js';
import { StatsSampler } from './sampler.js';
import type { TlsCredentials } from '../tls.js';

/** Takes over a connection that asked to upgrade (a WebSocket) on one path. */
export type UpgradeHandler = (req: IncomingMessage, socket: Duplex, head: Buffer) => void;

/**
 * The daemon's HTTP listener: the management API, `/metrics`, the health checks and the
 * dashboard on one port (RabbitMQ's 15672 by default), and the stats sampler that feeds their
 * rates. Other protocols may mount on it through {@link onUpgrade} (the WebSocket endpoint).
 */
export class HttpListener {
  readonly app: FastifyInstance;
  readonly sampler: StatsSampler;
  readonly options: Readonly<HttpOptions>;
  /** True when it serves HTTPS (and wss). */
  readonly tls: boolean;
  private readonly upgrades = new Map<string, UpgradeHandler>();
  private bound: AddressInfo | null = null;

  private constructor(app: FastifyInstance, sampler: StatsSampler, options: HttpOptions, tls: boolean) {
    this.app = app;
    this.sampler = sampler;
    this.options = options;
    this.tls = tls;
    app.server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => this.upgrade(req, socket, head));
  }

  /**
   * Builds the API over `host` and starts listening, over HTTPS with `tls`; rejects (EADDRINUSE,
   * …) if it cannot.
   */
  static async start(host: HttpHost, options: Readonly<HttpOptions>, log: Logger, tls: TlsCredentials | null = null): Promise<HttpListener> {
    const o = options;
    const sampler = new StatsSampler(host, o.statsIntervalMs, o.statsSamples);
    let listener: HttpListener | null = null;
    const ctx: ApiContext = {
      host,
      sampler,
      options: o,
      log: log.child({ listener: 'http' }),
      // The daemon lists this listener beside the others once it is bound.
      listeners: (): readonly ListenerView[] => host.listeners(),
    };
    const app = buildApp(ctx, await loadDashboardAssets(), tls, await loadBrowserAssets());
    listener = new HttpListener(app, sampler, o, tls !== null);
    await app.listen({ host: o.host, port: o.port });
    listener.bound = app.server.address() as AddressInfo;
    sampler.start();
    return listener;
  }

  /** The bound address (port 0 resolved); null once closed. */
  get address(): AddressInfo | null {
    return this.bound;
  }

  /**
   * Routes upgrade requests for `path` (e.g. `/ws`) to `handler`; requests for other paths are
   * answered 404 and closed.
   */
  onUpgrade(path: string, handler: UpgradeHandler): void {
    this.upgrades.set(path, handler);
  }

  private upgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const handler = this.upgrades.get(path);
    if (handler !== undefined) return handler(req, socket, head);
    socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
  }

  /** Stops accepting, finishes requests in flight, closes idle keep-alive connections. */
  async close(): Promise<void> {
    this.sampler.stop();
    this.bound = null;
    await this.app.close();
  }
}
