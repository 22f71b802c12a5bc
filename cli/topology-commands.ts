import type { Command } from 'commander';
import type { Channel } from '../src/client/index.js';
import { printJson, println, type Io } from './io.js';
import { addTargetOptions, withConnection, type TargetOptions } from './target.js';

/** Runs `fn` on a fresh channel, then prints `json` (with --json) or `text`. */
async function onChannel<T>(
  opts: TargetOptions,
  io: Io,
  fn: (ch: Channel) => Promise<T>,
  show: (result: T) => { json: unknown; text: string },
): Promise<void> {
  const result = await withConnection(opts, io, async (conn) => fn(await conn.channel()));
  const out = show(result);
  if (opts.json) printJson(io, out.json);
  else println(io.stdout, out.text);
}

const quote = (name: string): string => `'${name}'`;

/** declare, delete, bind, unbind, purge: ordinary channel methods, open to every user. */
export function addTopologyCommands(program: Command, io: Io): void {
  const declare = program.command('declare').description('declare an exchange or a queue');
  addTargetOptions(
    declare
      .command('exchange')
      .description('declare an exchange')
      .argument('<name>')
      .argument('<type>', 'direct or fanout')
      .option('--durable', 'survives a restart')
      .option('--auto-delete', 'deleted when its last binding goes')
      .option('--internal', 'no direct publishing'),
  ).action(async (name: string, type: string, opts: TargetOptions & { durable?: boolean; autoDelete?: boolean; internal?: boolean }) => {
    const options = { durable: opts.durable === true, autoDelete: opts.autoDelete === true, internal: opts.internal === true };
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
      .option('--auto-delete', 'deleted when its last consumer goes'),
  ).action(async (name: string, opts: TargetOptions & { durable?: boolean; autoDelete?: boolean }) => {
    const options = { durable: opts.durable === true, autoDelete: opts.autoDelete === true };
    await onChannel(
      opts,
      io,
      (ch) => ch.declareQueue(name, options),
      (q) => ({ json: { ...q, ...options }, text: `declared queue ${quote(q.queue)} (${q.messageCount} messages, ${q.consumerCount} consumers)` }),
    );
  });

  const del = program.command('delete').description('delete an exchange or a queue');
  addTargetOptions(
    del
      .command('exchange')
      .description('delete an exchange and its bindings')
      .argument('<name>')
      .option('--if-unused', 'only if it has no bindings'),
  ).action(async (name: string, opts: TargetOptions & { ifUnused?: boolean }) => {
    await onChannel(
      opts,
      io,
      (ch) => ch.deleteExchange(name, { ifUnused: opts.ifUnused === true }),
      () => ({ json: { deleted: name }, text: `deleted exchange ${quote(name)}` }),
    );
  });
  addTargetOptions(
    del
      .command('queue')
      .description('delete a queue and its messages')
      .argument('<name>')
      .option('--if-unused', 'only if it has no consumers')
      .option('--if-empty', 'only if it has no ready messages'),
  ).action(async (name: string, opts: TargetOptions & { ifUnused?: boolean; ifEmpty?: boolean }) => {
    await onChannel(
      opts,
      io,
      (ch) => ch.deleteQueue(name, { ifUnused: opts.ifUnused === true, ifEmpty: opts.ifEmpty === true }),
      (n) => ({ json: { deleted: name, messageCount: n }, text: `deleted queue ${quote(name)} (${n} messages)` }),
    );
  });

  for (const [verb, past] of [
    ['bind', 'bound'],
    ['unbind', 'unbound'],
  ] as const) {
    addTargetOptions(
      program
        .command(verb)
        .description(`${verb} a queue ${verb === 'bind' ? 'to' : 'from'} an exchange`)
        .argument('<exchange>')
        .argument('<queue>')
        .argument('[routing-key]', 'binding key', ''),
    ).action(async (exchange: string, queue: string, key: string, opts: TargetOptions) => {
      await onChannel(
        opts,
        io,
        (ch) => (verb === 'bind' ? ch.bindQueue(queue, exchange, key) : ch.unbindQueue(queue, exchange, key)),
        () => ({
          json: { [past]: { exchange, queue, routingKey: key } },
          text: `${past} queue ${quote(queue)} ${verb === 'bind' ? 'to' : 'from'} exchange ${quote(exchange)} with key ${quote(key)}`,
        }),
      );
    });
  }

  addTargetOptions(program.command('purge').description("drop a queue's ready messages").argument('<queue>')).action(
    async (queue: string, opts: TargetOptions) => {
      await onChannel(
        opts,
        io,
        (ch) => ch.purgeQueue(queue),
        (n) => ({ json: { purged: queue, messageCount: n }, text: `purged ${n} messages from ${quote(queue)}` }),
      );
    },
  );
}
