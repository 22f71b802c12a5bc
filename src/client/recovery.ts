import { ReplyCode } from '../../protocol/index.js';
import type { Channel } from './channel.js';
import type { Connection, ConnectionEvents } from './connection.js';
import { ConnectionError, ServerError } from './errors.js';
import { Topology, type RecordedBinding } from './topology.js';

type Emit = <E extends keyof ConnectionEvents>(event: E, ...args: ConnectionEvents[E]) => void;

function bindingLabel(b: RecordedBinding): string {
  return `binding of ${b.kind} '${b.destination}' to exchange '${b.source}' with key '${b.routingKey}'`;
}

/**
 * Declares the recorded topology on a new connection, on a channel of the connection's own:
 * exchanges, then queues, then exchange and queue bindings, each kind in the order the
 * application made them (so every binding finds both ends). A declaration the broker refuses
 * (say, a durable queue that another client redeclared with other arguments) is reported as
 * `recoveryError` and the replay goes on with the rest; an exclusive queue still held by the
 * lost connection (the broker has not noticed it is gone) fails the attempt, to be retried
 * after the next backoff.
 */
export async function replayTopology(conn: Connection, emit: Emit): Promise<void> {
  const t = conn.topology;
  if (t.exchanges.length + t.queues.length + t.bindings.length === 0) return;
  let ch: Channel = await conn.internalChannel();
  const run = async (what: string, f: (c: Channel) => Promise<void>): Promise<void> => {
    try {
      await f(ch);
    } catch (err) {
      if (!(err instanceof ServerError) || err.scope !== 'channel') throw err;
      if (err.replyCode === ReplyCode.RESOURCE_LOCKED) {
        throw new ConnectionError('ERR_RECOVERY_LOCKED', `cannot declare ${what} again yet: ${err.message}`, { cause: err });
      }
      emit('recoveryError', { error: err, what });
      ch = await conn.internalChannel(); // the error closed the channel
    }
  };
  for (const x of t.exchanges) {
    await run(`exchange '${x.name}'`, (c) =>
      c.declareExchange(x.name, x.type, { durable: x.durable, autoDelete: x.autoDelete, internal: x.internal, arguments: x.arguments }),
    );
  }
  for (const q of t.queues) {
    await run(`queue '${q.name}'`, async (c) => {
      const { queue } = await c.declareQueue(Topology.redeclareName(q), {
        durable: q.durable,
        exclusive: q.exclusive,
        autoDelete: q.autoDelete,
        arguments: q.arguments,
      });
      if (queue === q.name) return;
      const from = q.name;
      t.queueRenamed(from, queue);
      conn.queueRenamed(from, queue);
      emit('queueRenamed', { from, to: queue });
    });
  }
  for (const b of t.bindings) {
    await run(bindingLabel(b), (c) =>
      b.kind === 'queue'
        ? c.bindQueue(b.destination, b.source, b.routingKey, b.arguments)
        : c.bindExchange(b.destination, b.source, b.routingKey, b.arguments),
    );
  }
  await ch.close();
}
