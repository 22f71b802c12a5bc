import { createServer, connect as netConnect, type Server, type Socket } from 'node:net';

/** One client connection through the proxy and its server-side twin. */
interface Pipe {
  client: Socket;
  server: Socket;
  /** Half-open: bytes are dropped both ways and the sockets stay up. */
  dead: boolean;
}

/**
 * A TCP proxy between a client and the daemon that injects network faults, for resilience
 * tests. It forwards bytes both ways until told otherwise:
 *  - `cut()` resets every open connection (both sides see the socket die);
 *  - `stall()` stops forwarding, holding bytes until `resume()` (a paused path);
 *  - `slow(bytesPerTick)` forwards at most that many bytes per direction per 10 ms tick;
 *  - `halfOpen()` silently drops everything on the open connections while keeping their
 *    sockets up, as a dead NAT or a pulled cable does (only heartbeats can notice); new
 *    connections flow;
 *  - `orphan()` resets the client side of the open connections and leaves the server side open
 *    and silent, as when the client's host drops off the network and comes back: the broker
 *    keeps the old connection until its heartbeat check gives up on it;
 *  - `refuse(true)` rejects new connections (the daemon looks down), `refuse(false)` accepts again.
 */
export class FaultProxy {
  readonly port: number;
  private readonly server: Server;
  private readonly pipes = new Set<Pipe>();
  private mode: 'flow' | 'stall' = 'flow';
  private refusing = false;
  private bytesPerTick = 0;
  private slowTimer: NodeJS.Timeout | null = null;
  /** Connections accepted so far. */
  accepted = 0;
  /** Bytes received and not yet forwarded (a stall or a slow path holds them). */
  heldBytes = 0;
  private target: number;

  private constructor(server: Server, port: number, target: number) {
    this.server = server;
    this.port = port;
    this.target = target;
  }

  /** Starts a proxy on 127.0.0.1 (a free port) in front of 127.0.0.1:`targetPort`. */
  static async start(targetPort: number): Promise<FaultProxy> {
    let proxy: FaultProxy | null = null;
    const server = createServer({ pauseOnConnect: true }, (client) => proxy?.accept(client));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const addr = server.address();
    if (addr === null || typeof addr === 'string') throw new Error('proxy has no port');
    proxy = new FaultProxy(server, addr.port, targetPort);
    return proxy;
  }

  /** The URL a client uses to go through the proxy. */
  get url(): string {
    return `skiff://guest:guest@127.0.0.1:${this.port}`;
  }

  /** Connections currently open through the proxy. */
  get open(): number {
    return this.pipes.size;
  }

  /** Points new connections at another daemon port (a daemon restarted elsewhere). */
  retarget(port: number): void {
    this.target = port;
  }

  private accept(client: Socket): void {
    this.accepted++;
    if (this.refusing) {
      client.resetAndDestroy();
      return;
    }
    const server = netConnect({ host: '127.0.0.1', port: this.target });
    const pipe: Pipe = { client, server, dead: false };
    this.pipes.add(pipe);
    const drop = (): void => {
      // A dead path carries no close either: each side learns only by its own heartbeats.
      if (pipe.dead) return;
      if (!this.pipes.delete(pipe)) return;
      client.destroy();
      server.destroy();
    };
    client.on('error', drop).on('close', drop);
    server.on('error', drop).on('close', drop);
    server.once('connect', () => {
      this.forward(pipe, client, server);
      this.forward(pipe, server, client);
      client.resume();
    });
  }

  private forward(pipe: Pipe, from: Socket, to: Socket): void {
    const held: Buffer[] = [];
    from.on('data', (chunk: Buffer) => {
      if (pipe.dead) return;
      held.push(chunk);
      this.heldBytes += chunk.length;
      pump();
    });
    const pump = (): void => {
      if (this.mode !== 'flow' || to.destroyed) return;
      while (held.length > 0) {
        const chunk = held.shift() as Buffer;
        if (this.bytesPerTick > 0 && chunk.length > this.bytesPerTick) {
          held.unshift(chunk.subarray(this.bytesPerTick));
          to.write(chunk.subarray(0, this.bytesPerTick));
          this.heldBytes -= this.bytesPerTick;
          return; // the rest goes on the next tick
        }
        to.write(chunk);
        this.heldBytes -= chunk.length;
        if (this.bytesPerTick > 0) return;
      }
    };
    (from as Socket & { pump?: () => void }).pump = pump;
  }

  private pumpAll(): void {
    for (const p of this.pipes) {
      (p.client as Socket & { pump?: () => void }).pump?.();
      (p.server as Socket & { pump?: () => void }).pump?.();
    }
  }

  /** Resets every open connection. */
  cut(): void {
    this.heldBytes = 0;
    for (const p of [...this.pipes]) {
      this.pipes.delete(p);
      p.client.resetAndDestroy();
      p.server.destroy();
    }
  }

  orphan(): void {
    for (const p of this.pipes) {
      p.dead = true;
      p.client.resetAndDestroy();
    }
  }

  stall(): void {
    this.mode = 'stall';
  }

  halfOpen(): void {
    for (const p of this.pipes) p.dead = true;
  }

  /** Back to forwarding (what a stall held goes through now), at full speed. */
  resume(): void {
    this.mode = 'flow';
    this.slow(0);
    this.pumpAll();
  }

  /** Limits forwarding to `bytesPerTick` bytes per direction per 10 ms; 0 lifts the limit. */
  slow(bytesPerTick: number): void {
    this.bytesPerTick = bytesPerTick;
    if (this.slowTimer !== null) clearInterval(this.slowTimer);
    this.slowTimer = null;
    if (bytesPerTick > 0) this.slowTimer = setInterval(() => this.pumpAll(), 10);
    else this.pumpAll();
  }

  refuse(on: boolean): void {
    this.refusing = on;
  }

  async close(): Promise<void> {
    this.cut();
    if (this.slowTimer !== null) clearInterval(this.slowTimer);
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
