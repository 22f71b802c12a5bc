import type { NativeFrontEnd } from '../native/front-end.js';
import type { WsFrontEnd } from './endpoint.js';

/** Subprotocol `skiff`: the native protocol's frames, served by the native front end as over TCP. */
export function nativeFrontEnd(native: NativeFrontEnd): WsFrontEnd {
  return (stream) => native.accept(stream, stream.peer);
}
