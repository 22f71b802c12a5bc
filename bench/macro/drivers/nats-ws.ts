import { WebSocket } from 'ws';
import type { BenchConnection, BenchPublisher, ConsumeOptions } from '../driver.js';
import { NatsSubjects } from './nats.js';

/**
 * A NATS subscriber over NATS's WebSocket listener, for the wsfanout scenario. nats.js v2 for
 * Node (the `nats` package) has no WebSocket transport: that lives in `nats.ws`, built for
 * browsers and Deno. NATS over WebSocket is the plain NATS text protocol in binary messages, so
 * this speaks the few verbs a subscriber needs (CONNECT, SUB, PING/PONG, MSG) over `ws`.
 */
export class NatsWsConnection extends NatsSubjects implements BenchConnection {
  private open = true;
  private buf: Buffer = Buffer.alloc(0);
  private readonly subs = new Map<string, (body: Buffer) => void>();
  private pongs: (() => void)[] = [];
  private sid = 0;

  private constructor(private readonly ws: WebSocket) {
    super();
    ws.on('message', (data: Buffer) => this.onData(data));
    ws.on('close', () => (this.open = false));
    ws.on('error', () => undefined);
  }

  static async connect(url: string): Promise<NatsWsConnection> {
    const ws = new WebSocket(url);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    const c = new NatsWsConnection(ws);
    ws.send(Buffer.from('CONNECT {"verbose":false,"pedantic":false,"protocol":1,"lang":"bench-ws","version":"0"}\r\n'));
    await c.flush();
    return c;
  }

  get isOpen(): boolean {
    return this.open;
  }

  /** PING, resolved at its PONG: the server has processed everything sent before. */
  private flush(): Promise<void> {
    return new Promise((resolve) => {
      this.pongs.push(resolve);
      this.ws.send(Buffer.from('PING\r\n'));
    });
  }

  private onData(chunk: Buffer): void {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    for (;;) {
      const eol = this.buf.indexOf('\r\n');
      if (eol < 0) return;
      const line = this.buf.toString('latin1', 0, eol);
      if (line.startsWith('MSG ')) {
        const parts = line.split(' ');
        const size = Number(parts[parts.length - 1]);
        if (this.buf.length < eol + 2 + size + 2) return;
        const body = this.buf.subarray(eol + 2, eol + 2 + size);
        this.buf = this.buf.subarray(eol + 2 + size + 2);
        this.subs.get(parts[2] as string)?.(body);
        continue;
      }
      this.buf = this.buf.subarray(eol + 2);
      if (line === 'PING') this.ws.send(Buffer.from('PONG\r\n'));
      else if (line === 'PONG') this.pongs.shift()?.();
      else if (line.startsWith('-ERR')) this.ws.close();
    }
  }

  publisher(): Promise<BenchPublisher> {
    return Promise.reject(new Error('the NATS WebSocket bench connection only subscribes'));
  }

  async consume(_queue: string, o: ConsumeOptions, onBody: (body: Buffer) => void): Promise<void> {
    const sid = String(++this.sid);
    this.subs.set(sid, onBody);
    this.ws.send(Buffer.from(`SUB ${o.route} ${sid}\r\n`));
    await this.flush();
  }

  async close(): Promise<void> {
    if (!this.open) return;
    this.open = false;
    this.ws.close();
  }
}
