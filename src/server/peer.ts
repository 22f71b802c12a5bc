import type { Socket } from 'node:net';

/**
 * Who is at the other end of a client stream, and where it connected to. A front end takes
 * this beside the stream, so a stream that is not a TCP socket (a WebSocket's) names its peer.
 */
export interface PeerInfo {
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly localAddress: string;
  readonly localPort: number;
  /** What carries the protocol when it is not plain TCP (`WebSocket`), for connection listings. */
  readonly transport?: string;
  /** The user a verified TLS client certificate names (mutual TLS); absent or null otherwise. */
  readonly certificateUser?: string | null;
}

/** The peer of an accepted TCP socket. */
export function peerOfSocket(socket: Socket): PeerInfo {
  return {
    remoteAddress: socket.remoteAddress ?? 'unknown',
    remotePort: socket.remotePort ?? 0,
    localAddress: socket.localAddress ?? '',
    localPort: socket.localPort ?? 0,
  };
}
