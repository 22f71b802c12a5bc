import type { Command } from 'commander';
import { Admin } from '../src/client/index.js';
import { usageError } from './exit.js';
import { printJson, println, type Io } from './io.js';
import { addTargetOptions, targetVhost, withConnection, type TargetOptions } from './target.js';

const APPLY_TO = ['queues', 'exchanges', 'all'] as const;
type ApplyTo = (typeof APPLY_TO)[number];

/** The DEFINITION argument: a JSON object, checked key by key by the daemon. */
function definitionOf(command: string, text: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw usageError(`${command}: DEFINITION is not JSON: ${(e as Error).message}`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw usageError(`${command}: DEFINITION must be a JSON object, e.g. '{"message-ttl":60000}'`);
  return v as Record<string, unknown>;
}

/**
 * `skiff policy set|clear` and `skiff operator-policy set|clear`, as `rabbitmqctl set_policy`:
 * a name, a pattern over queue/exchange names, a definition, a priority and what it applies to.
 * `skiff list policies` (and `operator-policies`) lists them.
 */
export function addPolicyCommands(program: Command, io: Io): void {
  for (const operator of [false, true]) {
    const word = operator ? 'operator-policy' : 'policy';
    const group = program
      .command(word)
      .description(operator ? 'set or clear operator policies: caps on queue limits that win over policies and arguments when lower' : 'set or clear policies applied to matching queues and exchanges');
    addTargetOptions(
      group
        .command('set')
        .description(`set a ${word}; it applies at once to existing and future queues${operator ? '' : ' and exchanges'} whose name matches`)
        .argument('<name>', `${word} name`)
        .argument('<pattern>', 'regular expression over queue/exchange names, e.g. ^orders\\.')
        .argument('<definition>', `JSON object, e.g. '{"message-ttl":60000,"max-length":1000}'`)
        .option('--priority <n>', 'the highest-priority matching policy applies', '0')
        .option('--apply-to <what>', 'queues, exchanges or all', operator ? 'queues' : 'all'),
    ).action(async (name: string, pattern: string, text: string, opts: TargetOptions & { priority: string; applyTo: string }) => {
      const command = `${word} set`;
      const definition = definitionOf(command, text);
      if (!/^-?\d+$/.test(opts.priority)) throw usageError(`${command}: --priority must be an integer, got '${opts.priority}'`);
      if (!(APPLY_TO as readonly string[]).includes(opts.applyTo)) throw usageError(`${command}: --apply-to must be queues, exchanges or all, got '${opts.applyTo}'`);
      const priority = Number(opts.priority);
      const applyTo = opts.applyTo as ApplyTo;
      const vhost = targetVhost(opts, io);
      await withConnection(opts, io, (conn) => new Admin(conn).setPolicy(name, { pattern, definition, priority, applyTo, operator, vhost }));
      if (opts.json) printJson(io, { vhost, name, pattern, 'apply-to': applyTo, priority, definition });
      else println(io.stdout, `${word} ${name} set${vhost === '/' ? '' : ` in vhost ${vhost}`}: pattern '${pattern}', apply-to ${applyTo}, priority ${priority}, ${JSON.stringify(definition)}`);
    });
    addTargetOptions(group.command('clear').description(`remove a ${word}`).argument('<name>', `${word} name`)).action(async (name: string, opts: TargetOptions) => {
      await withConnection(opts, io, (conn) => new Admin(conn).clearPolicy(name, { operator, vhost: targetVhost(opts, io) }));
      if (opts.json) printJson(io, { cleared: name });
      else println(io.stdout, `${word} ${name} cleared`);
    });
  }
}
