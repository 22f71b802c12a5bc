import type { Socket } from 'node:net';
import { Duplex, PassThrough } from 'node:stream';

/**
 * A stream that is not a socket (as a WebSocket's is not): bytes pass through PassThroughs
 * between a TCP socket and a front end, which sees only a Duplex and the peer it is told.
 */
export function detached(socket: Socket): Duplex {
  const toServer = new PassThrough();
  const toClient = new PassThrough();
  socket.pipe(toServer);
  toClient.pipe(socket);
  const stream = Duplex.from({ readable: toServer, writable: toClient });
  socket.on('close', () => stream.destroy());
  stream.on('close', () => socket.destroy());
  return stream;
}
