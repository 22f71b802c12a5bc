import type { Duplex } from 'node:stream';
import type { WritableLike } from '../../protocol/index.js';

/**
 * Where a front end's frame writer writes: the stream itself, or the faster sink for whole
 * batches a stream may offer (`frameSink`: the WebSocket stream frames them as messages and
 * writes them to its socket directly, see {@link WebSocketFrameSink}).
 */
export function writeSideOf(stream: Duplex): WritableLike {
  return (stream as { frameSink?: WritableLike }).frameSink ?? stream;
}
