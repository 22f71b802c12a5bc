import type { Command } from 'commander';
import { Admin } from '../src/client/index.js';
import { usageError } from './exit.js';
import { printJson, println, type Io } from './io.js';
import { addTargetOptions, withConnection, type TargetOptions } from './target.js';

/** A LIMITS argument: a JSON object of integers, e.g. '{"max-queues":100}'. */
function limitsOf(command: string, text: string): Record<string, number> {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw usageError(`${command}: LIMITS is not JSON: ${(e as Error).message}`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw usageError(`${command}: LIMITS must be a JSON object, e.g. '{"max-connections":10}'`);
  return v as Record<string, number>;
}

/**
 * `skiff vhost add|delete` (`skiff list vhosts` lists them) and `skiff limits set|clear`, as
 * `rabbitmqctl add_vhost`, `delete_vhost`, `set_vhost_limits` and `set_user_limits`.
 */
export function addVhostCommands(program: Command, io: Io): void {
  const vhost = program.command('vhost').description('add or delete virtual hosts (list them: skiff list vhosts)');
  addTargetOptions(
    vhost
      .command('add')
      .description('create a vhost with its built-in exchanges, or change its description and tags; nobody has permissions in it until granted')
      .argument('<name>', 'vhost name')
      .option('--description <text>', 'shown in listings')
      .option('--tags <list>', 'comma-separated tags'),
  ).action(async (name: string, opts: TargetOptions & { description?: string; tags?: string }) => {
    const fields = {
      ...(opts.description !== undefined && { description: opts.description }),
      ...(opts.tags !== undefined && { tags: opts.tags.split(',').map((t) => t.trim()).filter((t) => t !== '') }),
    };
    const created = await withConnection(opts, io, (conn) => new Admin(conn).putVhost(name, fields));
    if (opts.json) printJson(io, { vhost: name, created });
    else println(io.stdout, created ? `vhost ${name} created` : `vhost ${name} updated`);
  });
  addTargetOptions(
    vhost.command('delete').description('delete a vhost and everything in it; its connections are closed').argument('<name>', 'vhost name'),
  ).action(async (name: string, opts: TargetOptions) => {
    await withConnection(opts, io, (conn) => new Admin(conn).deleteVhost(name));
    if (opts.json) printJson(io, { deleted: name });
    else println(io.stdout, `vhost ${name} deleted`);
  });

  const limits = program.command('limits').description('set or clear vhost limits (max-connections, max-queues) and user limits (max-connections, max-channels)');
  addTargetOptions(
    limits
      .command('set')
      .description('set limits; a negative value removes one (list them: skiff list vhost-limits, skiff list user-limits)')
      .argument('<scope>', 'vhost or user')
      .argument('<name>', 'vhost or user name')
      .argument('<limits>', `JSON object, e.g. '{"max-connections":10,"max-queues":100}'`),
  ).action(async (scope: string, name: string, text: string, opts: TargetOptions) => {
    if (scope !== 'vhost' && scope !== 'user') throw usageError(`limits set: scope must be vhost or user, got '${scope}'`);
    const value = limitsOf('limits set', text);
    await withConnection(opts, io, (conn) => new Admin(conn).setLimits(scope, name, value));
    if (opts.json) printJson(io, { [scope]: name, limits: value });
    else println(io.stdout, `limits of ${scope} ${name} set: ${JSON.stringify(value)}`);
  });
  addTargetOptions(limits.command('clear').description('remove every limit of a vhost or user').argument('<scope>', 'vhost or user').argument('<name>', 'vhost or user name')).action(
    async (scope: string, name: string, opts: TargetOptions) => {
      if (scope !== 'vhost' && scope !== 'user') throw usageError(`limits clear: scope must be vhost or user, got '${scope}'`);
      await withConnection(opts, io, (conn) => new Admin(conn).clearLimits(scope, name));
      if (opts.json) printJson(io, { [scope]: name, cleared: true });
      else println(io.stdout, `limits of ${scope} ${name} cleared`);
    },
  );
}
