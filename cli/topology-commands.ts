import type { Command } from 'commander';
import { ServerError, type Channel } from '../src/client/index.js';
import { parseKeyValues } from './key-values.js';
import { printJson, println, type Io } from './io.js';
import { addTargetOptions, withConnection, type TargetOptions } from './target.js';

/** Runs `fn` on a fresh channel, then prints `json` (with --json) or `text`. */
async function onChannel<T>(
  opts: TargetOptions,
  io: Io,
  fn: (ch: Channel) => Promise<T>,
  show: (result: T) => { json: unknown; text: string },
): Promise<void> {
  const result = await withConnection(opts, io, async (conn) => fn(await conn.channel()), { in: 'vhost' });
  const out = show(result);
  if (opts.json) printJson(io, out.json);
  else println(io.stdout, out.text);
}

const quote = (name: string): string => `'${name}'`;

/** `1 message`, `2 messages`. */
export function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

const messages = (n: number): string => plural(n, 'message');

/**
 * Whether the thing a passive declare looks up exists: NOT_FOUND is an error unless `ifExists`,
 * then false. The passive declare's channel error closes the channel, so it comes last.
 */
async function exists(passive: () => Promise<unknown>, ifExists: boolean | undefined): Promise<boolean> {
  if (ifExists !== true) {
    await passive();
    return true;
  }
  try {
    await passive();
    return true;
  } catch (err) {
    if (err instanceof ServerError && err.code === 'NOT_FOUND') return false;
    throw err;
  }
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

interface DeclareFlags extends TargetOptions {
  durable?: boolean;
  autoDelete?: boolean;
  internal?: boolean;
  argument: string[];
}

/** declare, delete, bind, unbind, purge: ordinary channel methods, open to every user. */
export function addTopologyCommands(program: Command, io: Io): void {
  const declare = program.command('declare').description('declare an exchange or a queue');
  addTargetOptions(
    declare
      .command('exchange')
      .description('declare an exchange')
      .argument('<name>')
      .argument('<type>', 'direct, fanout, topic or headers')
      .option('--durable', 'survives a restart')
      .option('--auto-delete', 'deleted when its last binding goes')
      .option('--internal', 'no direct publishing')
      .option('--argument <key=value>', 'an exchange argument, e.g. alternate-exchange=unrouted (repeatable)', collect, []),
  ).action(async (name: string, type: string, opts: DeclareFlags) => {
    const options = { durable: opts.durable === true, autoDelete: opts.autoDelete === true, internal: opts.internal === true, arguments: parseKeyValues(opts.argument, '--argument') };
    await onChannel(
      opts,
      io,
      (ch) => ch.declareExchange(name, type, options),
      () => ({ json: { exchange: name, type, ...options }, text: `declared exchange ${quote(name)} (${type})` }),
    );
  });
  addTargetOptions(
    declare
      .command('queue')
      .description('declare a queue (no name: the server makes one up and prints it)')
      .argument('[name]', 'queue name', '')
      .option('--durable', 'survives a restart')
      .option('--auto-delete', 'deleted when its last consumer goes')
      .option('--argument <key=value>', 'a queue argument, e.g. x-message-ttl=5000 (repeatable)', collect, []),
  ).action(async (name: string, opts: DeclareFlags) => {
    const options = { durable: opts.durable === true, autoDelete: opts.autoDelete === true, arguments: parseKeyValues(opts.argument, '--argument') };
    await onChannel(
      opts,
      io,
      (ch) => ch.declareQueue(name, options),
      (q) => ({
        json: { ...q, ...options },
        // A queue the server named outlives this command like any other: say so, it is easy to leave behind.
        text: `declared ${name === '' ? 'server-named ' : ''}queue ${quote(q.queue)} (${messages(q.messageCount)}, ${plural(q.consumerCount, 'consumer')})${name === '' ? '; it stays until deleted' : ''}`,
      }),
    );
  });

  const del = program.command('delete').description('delete an exchange or a queue');
  addTargetOptions(
    del
      .command('exchange')
      .description('delete an exchange and its bindings')
      .argument('<name>')
      .option('--if-unused', 'only if it has no bindings')
      .option('--if-exists', 'succeed (exit 0) when there is no such exchange'),
  ).action(async (name: string, opts: TargetOptions & { ifUnused?: boolean; ifExists?: boolean }) => {
    await onChannel(
      opts,
      io,
      // Deleting is idempotent on the wire (as RabbitMQ); a user deleting by hand expects to hear of a typo.
      async (ch) => (await exists(() => ch.declareExchange(name, '', { passive: true }), opts.ifExists)) && (await ch.deleteExchange(name, { ifUnused: opts.ifUnused === true }), true),
      (done) => ({ json: { deleted: done ? name : null }, text: done ? `deleted exchange ${quote(name)}` : `no exchange ${quote(name)}; nothing deleted` }),
    );
  });
  addTargetOptions(
    del
      .command('queue')
      .description('delete a queue and its messages')
      .argument('<name>')
      .option('--if-unused', 'only if it has no consumers')
      .option('--if-empty', 'only if it has no ready messages')
      .option('--if-exists', 'succeed (exit 0) when there is no such queue'),
  ).action(async (name: string, opts: TargetOptions & { ifUnused?: boolean; ifEmpty?: boolean; ifExists?: boolean }) => {
    await onChannel(
      opts,
      io,
      async (ch) =>
        (await exists(() => ch.declareQueue(name, { passive: true }), opts.ifExists)) ? await ch.deleteQueue(name, { ifUnused: opts.ifUnused === true, ifEmpty: opts.ifEmpty === true }) : null,
      (n) =>
        n === null
          ? { json: { deleted: null, messageCount: 0 }, text: `no queue ${quote(name)}; nothing deleted` }
          : { json: { deleted: name, messageCount: n }, text: `deleted queue ${quote(name)} (${messages(n)})` },
    );
  });

  for (const [verb, past] of [
    ['bind', 'bound'],
    ['unbind', 'unbound'],
  ] as const) {
    addTargetOptions(
      program
        .command(verb)
        .description(`${verb} a queue (or with --to-exchange an exchange) ${verb === 'bind' ? 'to' : 'from'} an exchange`)
        .argument('<exchange>', 'source exchange')
        .argument('<destination>', 'queue, or exchange with --to-exchange')
        .argument('[routing-key]', 'binding key', '')
        .option('--to-exchange', 'the destination is an exchange (exchange-to-exchange binding)')
        .option('--argument <key=value>', 'a binding argument, e.g. x-match=any for headers exchanges (repeatable)', collect, []),
    ).action(async (exchange: string, destination: string, key: string, opts: TargetOptions & { toExchange?: boolean; argument: string[] }) => {
      const kind = opts.toExchange === true ? 'exchange' : 'queue';
      const args = parseKeyValues(opts.argument, '--argument');
      const run = (ch: Channel): Promise<void> => {
        if (kind === 'exchange') return verb === 'bind' ? ch.bindExchange(destination, exchange, key, args) : ch.unbindExchange(destination, exchange, key, args);
        return verb === 'bind' ? ch.bindQueue(destination, exchange, key, args) : ch.unbindQueue(destination, exchange, key, args);
      };
      await onChannel(opts, io, run, () => ({
        json: { [past]: { source: exchange, destination, destinationType: kind, routingKey: key, arguments: args } },
        text: `${past} ${kind} ${quote(destination)} ${verb === 'bind' ? 'to' : 'from'} exchange ${quote(exchange)} with key ${quote(key)}`,
      }));
    });
  }

  addTargetOptions(program.command('purge').description("drop a queue's ready messages").argument('<queue>')).action(
    async (queue: string, opts: TargetOptions) => {
      await onChannel(
        opts,
        io,
        (ch) => ch.purgeQueue(queue),
        (n) => ({ json: { purged: queue, messageCount: n }, text: `purged ${messages(n)} from ${quote(queue)}` }),
      );
    },
  );
}
