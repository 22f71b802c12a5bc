import { createInterface } from 'node:readline';
import type { Command } from 'commander';
import type { Message, PublishOptions } from '../src/client/index.js';
import { CliError, ExitCode, usageError } from './exit.js';
import { formatCount, printJson, println, type Io } from './io.js';
import { Progress } from './progress.js';
import { addTargetOptions, withConnection, type TargetOptions } from './target.js';
import { parseKeyValues } from './key-values.js';

/**
 * Unconfirmed publishes in flight from stdin: enough to keep the pipe full, few enough that a
 * huge input never sits in memory.
 */
const CONFIRM_WINDOW = 1000;

interface PublishFlags extends TargetOptions {
  persistent?: boolean;
  mandatory?: boolean;
  contentType?: string;
  header: string[];
}

interface ConsumeFlags extends TargetOptions {
  count?: string;
  ack?: boolean;
  prefetch?: string;
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function positiveInt(text: string | undefined, flag: string): number | undefined {
  if (text === undefined) return undefined;
  if (!/^[0-9]+$/.test(text) || Number(text) < 1) throw usageError(`${flag}: must be a positive integer, got '${text}'`);
  return Number(text);
}

function publishOptions(f: PublishFlags): PublishOptions {
  // Read as --argument values are: JSON when it parses (n=5 is the number 5), else a string.
  const headers = parseKeyValues(f.header, '--header');
  return {
    persistent: f.persistent === true,
    mandatory: f.mandatory === true,
    ...(f.contentType !== undefined && { contentType: f.contentType }),
    ...(f.header.length !== 0 && { headers }),
  };
}

/** One consumed message for `--json` (one JSON object per line). */
function messageJson(m: Message): Record<string, unknown> {
  const text = m.body.toString('utf8');
  // Bodies are opaque bytes: show text when it round-trips, base64 when it does not.
  const body = Buffer.from(text, 'utf8').equals(m.body) ? { body: text } : { bodyBase64: m.body.toString('base64') };
  return {
    exchange: m.exchange,
    routingKey: m.routingKey,
    redelivered: m.redelivered,
    persistent: m.persistent,
    properties: m.properties,
    ...body,
  };
}

/** publish and consume, through an ordinary channel. */
export function addMessageCommands(program: Command, io: Io): void {
  addTargetOptions(
    program
      .command('publish')
      .description("publish one message, or one per line of stdin when no body is given ('' is the default exchange)")
      .argument('<exchange>')
      .argument('<routing-key>')
      .argument('[body]', 'message body; omitted: read stdin, one message per line')
      .option('--persistent', 'store it when it lands in a durable queue')
      .option('--mandatory', 'fail (exit 5) when a message reaches no queue')
      .option('--content-type <type>', 'content type property')
      .option('--header <key=value>', 'a header, its value read as JSON when it parses (n=5 is a number, n=\'"5"\' a string), else as a string (repeatable)', collect, []),
  ).action(async (exchange: string, key: string, body: string | undefined, f: PublishFlags) => {
    const options = publishOptions(f);
    let published = 0;
    let returned = 0;
    await withConnection(f, io, async (conn) => {
      const ch = await conn.channel();
      await ch.confirmSelect();
      ch.onReturn(() => returned++);
      if (body !== undefined) {
        await ch.publish(exchange, key, body, options);
        published = 1;
        return;
      }
      const progress = new Progress(io.stderr, 'published', null);
      const pending: Promise<void>[] = [];
      const lines = createInterface({ input: io.stdin, crlfDelay: Infinity });
      try {
        for await (const line of lines) {
          const p = ch.publish(exchange, key, line, options);
          p.catch(() => undefined); // awaited below; this only keeps a failure from being "unhandled" meanwhile
          pending.push(p);
          published++;
          if (pending.length >= CONFIRM_WINDOW) await pending.shift();
          progress.update(published);
        }
        await Promise.all(pending);
      } finally {
        lines.close();
        progress.finish();
      }
    }, { in: 'vhost' });
    if (f.json) printJson(io, { published, returned });
    else println(io.stdout, `published ${formatCount(published)} message${published === 1 ? '' : 's'}${returned ? `, ${returned} returned unroutable` : ''}`);
    if (returned !== 0) throw new CliError(ExitCode.SERVER, `NO_ROUTE - ${returned} of ${published} messages reached no queue`);
  });

  addTargetOptions(
    program
      .command('consume')
      .description('print messages from a queue, one per line (without --ack they go back to the queue on exit)')
      .argument('<queue>')
      .option('-n, --count <n>', 'stop after n messages')
      .option('--ack', 'acknowledge (remove) the messages printed')
      .option('--prefetch <n>', 'unacked messages in flight (default: --count, else 100)'),
  ).action(async (queue: string, f: ConsumeFlags) => {
    const count = positiveInt(f.count, '--count');
    // With --count the window never exceeds what is still wanted, so no message is delivered
    // only to go back to the queue marked redelivered.
    const window = Math.min(positiveInt(f.prefetch, '--prefetch') ?? 100, count ?? Infinity, 10_000);
    await withConnection(f, io, async (conn) => {
      const ch = await conn.channel();
      let interrupted = false;
      // Closing the connection ends the loop below and requeues whatever was not acked.
      const stop = io.onInterrupt(() => {
        interrupted = true;
        void conn.close();
      });
      let n = 0;
      let last: Message | null = null;
      try {
        for await (const m of ch.messages(queue, { prefetch: window })) {
          if (f.json) println(io.stdout, JSON.stringify(messageJson(m)));
          else println(io.stdout, m.body.toString('utf8'));
          last = m;
          if (++n === count) break;
          if (!f.ack) continue;
          if (count === undefined) m.ack();
          else if (n % window === 0) {
            // Releasing a full window lets the broker send a window more: cap it at what is left.
            if (count - n < window) await ch.prefetch(count - n, true);
            m.ack(true);
          }
        }
        // The loop's exit cancelled the consumer, so this ack frees nothing new to deliver.
        if (f.ack && count !== undefined && last !== null) last.ack(true);      } catch (err) {
        if (!interrupted) throw err;
      } finally {
        stop();
      }
    }, { in: 'vhost' });
  });
}
