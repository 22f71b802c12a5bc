import type { IncomingMessage } from 'node:http';
import { WebSocket, createWebSocketStream, type ClientOptions } from 'ws';
import { RawClient } from './raw.js';

/** How a WebSocket ended, as its client saw it. */
export interface WsClosed {
  code: number;
  reason: string;
}

/** A stock `ws` client, open; `closed` settles with the close code and reason. */
export async function openWs(url: string, protocols: string | string[] = 'skiff', options: ClientOptions = {}): Promise<{ ws: WebSocket; closed: Promise<WsClosed> }> {
  const ws = new WebSocket(url, protocols, options);
  const closed = new Promise<WsClosed>((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  ws.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('unexpected-response', (_req, res: IncomingMessage) => reject(new Error(`upgrade refused with ${res.statusCode}`)));
    ws.once('error', reject);
  });
  return { ws, closed };
}

/** A {@link RawClient} over a WebSocket (binary messages), for protocol-level cases. */
export async function rawWs(url: string, options: ClientOptions = {}): Promise<{ raw: RawClient; ws: WebSocket; closed: Promise<WsClosed> }> {
  const { ws, closed } = await openWs(url, 'skiff', options);
  const raw = RawClient.over(createWebSocketStream(ws));
  raw.socket.on('error', () => undefined);
  return { raw, ws, closed };
}

/** The HTTP answer to an upgrade the server refuses: status and body. */
export function refusedUpgrade(url: string, protocols: string | string[] | undefined, options: ClientOptions = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const ws = protocols === undefined ? new WebSocket(url, options) : new WebSocket(url, protocols, options);
    ws.on('error', () => undefined);
    ws.once('open', () => {
      ws.terminate();
      reject(new Error('the upgrade was accepted'));
    });
    ws.once('unexpected-response', (_req, res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
    });
  });
}
