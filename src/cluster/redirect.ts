import { createServer as createHttpServer } from 'node:http';
import { createServer, type Server, type Socket } from 'node:net';
import type { ClusterStatus } from '../../protocol/index.js';
import { FrameWriter, Method, ReplyCode } from '../../protocol/index.js';
import { AmqpFrameWriter } from '../../protocol/amqp/writer.js';
import { Method as AmqpMethod } from '../../protocol/amqp/spec.generated.js';
import { serverProperties } from '../server/amqp/server-properties.js';
import { VERSION } from '../version.js';

/** How long a refused client may take to answer before its socket is dropped. */
const LINGER_MS = 2000;

/**
 * A follower's client ports. Followers serve no clients: each connection, native or AMQP 0-9-1,
 * is refused in its handshake with CONNECTION_FORCED and a text naming the leader, so clients
 * with several hosts move on to the next (the shipped client treats CONNECTION_FORCED as worth
 * reconnecting; AMQP clients report it and reconnect). Proxying would hide which node serves and
 * double every byte's path; a redirect keeps the leader's hot path alone.
 */
export class Redirector {
  private readonly servers: Server[] = [];
  private readonly sockets = new Set<Socket>();

  constructor(
    private readonly text: () => string,
    private readonly status: () => ClusterStatus,
  ) {}

  /**
   * Binds the native port and, when given, the AMQP and HTTP ones (the daemon's own addresses).
   * On HTTP a follower answers `GET /api/cluster` (its role and replication, no secrets) and
   * 503 with the redirect text to everything else, health checks included: a load balancer
   * sends traffic to the leader only.
   */
  async listen(native: { host: string; port: number }, amqp: { host: string; port: number } | null, http: { host: string; port: number } | null = null): Promise<void> {
    await this.bind(native, (s) => this.refuseNative(s));
    if (amqp !== null) await this.bind(amqp, (s) => this.refuseAmqp(s));
    if (http !== null) await this.bindHttp(http);
  }

  private bindHttp(at: { host: string; port: number }): Promise<void> {
    const server = createHttpServer((req, res) => {
      const cluster = (req.url ?? '').split('?')[0] === '/api/cluster';
      const body = cluster ? this.status() : { error: 'not_leader', reason: this.text() };
      res.writeHead(cluster ? 200 : 503, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      res.end(JSON.stringify(body));
    });
    server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    this.servers.push(server as unknown as Server);
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(at.port, at.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  }

  private bind(at: { host: string; port: number }, refuse: (s: Socket) => void): Promise<void> {
    const server = createServer((socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
      socket.on('error', () => socket.destroy());
      socket.setTimeout(LINGER_MS, () => socket.destroy());
      refuse(socket);
    });
    this.servers.push(server);
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(at.port, at.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  }

  /** Native protocol: `connection.close` answers the protocol header (SPEC §3.1 allows it at any point). */
  private refuseNative(socket: Socket): void {
    socket.once('data', () => {
      const w = new FrameWriter(socket);
      w.method(0, Method.ConnectionClose, [ReplyCode.CONNECTION_FORCED, `CONNECTION_FORCED - ${this.text()}`, 0]);
      w.flush();
      socket.end();
    });
  }

  /** AMQP 0-9-1: `connection.start`, then `connection.close` once the client answers, as a refused login would. */
  private refuseAmqp(socket: Socket): void {
    const w = new AmqpFrameWriter(socket);
    let got = 0;
    let started = false;
    socket.on('data', (chunk: Buffer) => {
      got += chunk.length;
      if (!started) {
        started = true;
        w.method(0, AmqpMethod.ConnectionStart, {
          versionMajor: 0,
          versionMinor: 9,
          serverProperties: serverProperties(VERSION),
          mechanisms: Buffer.from('PLAIN AMQPLAIN'),
          locales: Buffer.from('en_US'),
        });
        w.flush();
        // The header is 8 bytes; anything beyond it is start-ok.
        if (got <= 8) return;
      }
      if (got > 8) {
        socket.removeAllListeners('data');
        w.method(0, AmqpMethod.ConnectionClose, { replyCode: ReplyCode.CONNECTION_FORCED, replyText: `CONNECTION_FORCED - ${this.text()}`, classId: 0, methodId: 0 });
        w.flush();
        socket.on('data', () => socket.end());
      }
    });
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await Promise.all(this.servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
    this.servers.length = 0;
  }
}
