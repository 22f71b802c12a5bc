import type { Command } from 'commander';
import { Admin } from '../src/client/index.js';
import { printJson, println, type Io } from './io.js';
import { readPassword } from './server-command.js';
import { addTargetOptions, targetVhost, withConnection, type TargetOptions } from './target.js';

const TAGS_HELP = 'administrator, monitoring, management, policymaker (none: no tags)';

/** `none` (RabbitMQ's word for no tags) or a list; commas split too: `administrator,monitoring`. */
function tagList(tags: readonly string[]): string[] {
  const out = tags.flatMap((t) => t.split(',')).map((t) => t.trim()).filter((t) => t !== '');
  return out.length === 1 && out[0] === 'none' ? [] : out;
}

/**
 * `skiff user add|password|tags|delete`: run-time users, kept in the daemon's store (the
 * config file's users are changed in the file). `skiff list users` lists them.
 */
export function addUserCommands(program: Command, io: Io): void {
  const user = program.command('user').description('add, change or delete users at run time (stored by the daemon)');
  addTargetOptions(
    user
      .command('add')
      .description("create a user (no access to any vhost until granted); password typed, piped, or given after the name")
      .argument('<name>', 'user name')
      .argument('[password]', 'password; if absent it is read from the terminal or stdin')
      .option('--tags <tags...>', TAGS_HELP),
  ).action(async (name: string, given: string | undefined, opts: TargetOptions & { tags?: string[] }) => {
    const password = await readPassword(io, given, 'user add');
    const tags = tagList(opts.tags ?? []);
    await withConnection(opts, io, (conn) => new Admin(conn).putUser(name, { password, tags }));
    if (opts.json) printJson(io, { user: name, tags });
    else println(io.stdout, `user ${name} saved${tags.length === 0 ? '' : ` with tags ${tags.join(',')}`}`);
  });

  addTargetOptions(
    user
      .command('password')
      .description("change a user's password")
      .argument('<name>', 'user name')
      .argument('[password]', 'new password; if absent it is read from the terminal or stdin'),
  ).action(async (name: string, given: string | undefined, opts: TargetOptions) => {
    const password = await readPassword(io, given, 'user password');
    await withConnection(opts, io, (conn) => new Admin(conn).putUser(name, { password }));
    if (opts.json) printJson(io, { user: name });
    else println(io.stdout, `password of ${name} changed`);
  });

  addTargetOptions(
    user
      .command('tags')
      .description(`set a user's tags: ${TAGS_HELP}`)
      .argument('<name>', 'user name')
      .argument('<tags...>', "tags, or 'none'"),
  ).action(async (name: string, tags: string[], opts: TargetOptions) => {
    const list = tagList(tags);
    await withConnection(opts, io, (conn) => new Admin(conn).putUser(name, { tags: list }));
    if (opts.json) printJson(io, { user: name, tags: list });
    else println(io.stdout, `tags of ${name}: ${list.length === 0 ? 'none' : list.join(',')}`);
  });

  addTargetOptions(user.command('delete').description('delete a user (open connections stay)').argument('<name>', 'user name')).action(
    async (name: string, opts: TargetOptions) => {
      await withConnection(opts, io, (conn) => new Admin(conn).deleteUser(name));
      if (opts.json) printJson(io, { deleted: name });
      else println(io.stdout, `user ${name} deleted`);
    },
  );
}

/** `skiff permissions set|clear`: RabbitMQ's configure/write/read regular expressions per user, per vhost (--vhost, default /). */
export function addPermissionCommands(program: Command, io: Io): void {
  const perms = program.command('permissions').description("grant or clear a user's permissions on a vhost (--vhost, default /; list them: skiff list permissions)");
  addTargetOptions(
    perms
      .command('set')
      .description("set a user's configure, write and read regular expressions ('' = nothing, '.*' = everything)")
      .argument('<user>', 'user name')
      .argument('<configure>', 'declare and delete')
      .argument('<write>', 'publish to exchanges, bind to queues/exchanges')
      .argument('<read>', 'consume, get, purge; bind from exchanges'),
  ).action(async (name: string, configure: string, write: string, read: string, opts: TargetOptions) => {
    const vhost = targetVhost(opts, io);
    await withConnection(opts, io, (conn) => new Admin(conn).setPermissions(name, { configure, write, read }, { vhost }));
    if (opts.json) printJson(io, { user: name, vhost, configure, write, read });
    else println(io.stdout, `permissions of ${name} on ${vhost}: configure '${configure}', write '${write}', read '${read}'`);
  });
  addTargetOptions(perms.command('clear').description("remove a user's permissions on a vhost").argument('<user>', 'user name')).action(async (name: string, opts: TargetOptions) => {
    const vhost = targetVhost(opts, io);
    await withConnection(opts, io, (conn) => new Admin(conn).clearPermissions(name, { vhost }));
    if (opts.json) printJson(io, { user: name, vhost, cleared: true });
    else println(io.stdout, `permissions of ${name} on ${vhost} cleared`);
  });

  const topic = program
    .command('topic-permissions')
    .description("set or clear a user's topic permissions: regular expressions over the routing keys of one topic exchange (list them: skiff list topic-permissions)");
  addTargetOptions(
    topic
      .command('set')
      .description("limit the routing keys a user may publish with (write) and bind with (read) on a topic exchange ({username} and {vhost} expand)")
      .argument('<user>', 'user name')
      .argument('<exchange>', 'topic exchange')
      .argument('<write>', 'routing keys the user may publish with')
      .argument('<read>', 'binding keys the user may bind queues with'),
  ).action(async (name: string, exchange: string, write: string, read: string, opts: TargetOptions) => {
    const vhost = targetVhost(opts, io);
    await withConnection(opts, io, (conn) => new Admin(conn).setTopicPermissions(name, { exchange, write, read }, { vhost }));
    if (opts.json) printJson(io, { user: name, vhost, exchange, write, read });
    else println(io.stdout, `topic permissions of ${name} on ${vhost} exchange ${exchange}: write '${write}', read '${read}'`);
  });
  addTargetOptions(topic.command('clear').description("remove a user's topic permissions on a vhost").argument('<user>', 'user name')).action(async (name: string, opts: TargetOptions) => {
    const vhost = targetVhost(opts, io);
    await withConnection(opts, io, (conn) => new Admin(conn).clearTopicPermissions(name, { vhost }));
    if (opts.json) printJson(io, { user: name, vhost, cleared: true });
    else println(io.stdout, `topic permissions of ${name} on ${vhost} cleared`);
  });
}
