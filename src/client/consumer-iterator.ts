import type { Channel, ConsumeOptions, Consumer } from './channel.js';
import { ClosedError, ConnectionLostError } from './errors.js';
import type { Message } from './message.js';

/**
 * `channel.messages(queue)`: a consumer as an async iterator. The channel tells it directly,
 * with the cause, when the consumer ends, so a loop over a connection that died throws that
 * error instead of ending as if the queue had been cancelled. Across a reconnect the consumer
 * resumes and the loop goes on; deliveries it buffered from the lost connection are dropped,
 * since the broker delivers them again (a `noAck` consumer's are kept: they are not coming back).
 */
export function messages(ch: Channel, queue: string, options: ConsumeOptions): AsyncIterableIterator<Message> {
  const buffered: Message[] = [];
  let wake: (() => void) | null = null;
  let done = false;
  let failure: Error | null = null;
  let consumer: Consumer | null = null;
  const noAck = options.noAck ?? false;
  const hooks = {
    ended(cause: Error | null) {
      done = true;
      failure = cause;
      wake?.();
    },
    linkLost() {
      if (!noAck) buffered.length = 0;
    },
  };
  const onMessage = (m: Message): void => {
    buffered.push(m);
    wake?.();
  };
  const start = async (): Promise<void> => {
    for (;;) {
      try {
        consumer = await ch.startConsumer(queue, onMessage, options, hooks);
        return;
      } catch (err) {
        // Lost before consume-ok: the consumer, if it started, went with the connection. Asked
        // again, the request waits for the reconnect.
        if (err instanceof ConnectionLostError && !done) continue;
        if (err instanceof ClosedError) {
          // Closed by the application: the loop ends, as it does once consuming.
          if (!(err.cause instanceof Error)) {
            done = true;
            return;
          }
          throw err.cause; // cut short by the end of the connection: the loop throws what ended it
        }
        throw err;
      }
    }
  };
  const started = start();
  // The failure of `started` reaches the application through next(); never as unhandled.
  started.catch(() => undefined);
  const finish = async (): Promise<IteratorResult<Message>> => {
    done = true;
    await started.catch(() => undefined);
    const c = consumer as Consumer | null;
    if (c !== null && ch.isOpen) await c.cancel().catch(() => undefined);
    return { value: undefined, done: true };
  };
  const iterator: AsyncIterableIterator<Message> = {
    next: async (): Promise<IteratorResult<Message>> => {
      await started;
      for (;;) {
        const m = buffered.shift();
        if (m !== undefined) return { value: m, done: false };
        if (done) {
          if (failure !== null) throw failure;
          return { value: undefined, done: true };
        }
        await new Promise<void>((r) => (wake = r));
        wake = null;
      }
    },
    return: finish,
    [Symbol.asyncIterator]() {
      return iterator;
    },
  };
  return iterator;
}
