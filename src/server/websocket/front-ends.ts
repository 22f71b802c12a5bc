import type { Socket } from 'node:net';
import type { SkiffServer } from '../server.js';
import type { WsFrontEnd } from './endpoint.js';

/** Subprotocol `skiff`: the native protocol's frames, served by the native front end as over TCP. */
export function nativeFrontEnd(server: SkiffServer): WsFrontEnd {
  // The stream has the parts of a socket the native connection uses (see WebSocketStream).
  return (stream) => server.accept(stream as unknown as Socket);
}
