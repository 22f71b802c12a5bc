import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Method } from '../../protocol/index.js';
import { Admin, ServerError, connect, type ConnectOptions, type Connection } from '../../src/client/index.js';
import { resolveConfig } from '../../src/config/load.js';
import { startDaemon, type Daemon } from '../../src/daemon.js';
import { silentLogger } from '../../src/log/logger.js';
import { UserAuthenticator, hashPassword, parsePasswordHash, type PasswordHash } from '../../src/server/auth.js';
import { spawnDaemon, stopAllDaemons } from '../helpers/cli.js';
import { useTempDir } from '../helpers/tmp.js';
import { waitFor, within } from '../helpers/wait.js';

/** Users, passwords and the admin flag over real TCP; admin methods refused to plain users. */

const FAST = { ln: 10, r: 8, p: 1 };
const LOGIN_REFUSED = 'ACCESS_REFUSED - login refused: wrong username or password';

let daemon: Daemon;
const opened: Connection[] = [];

async function login(user: string, password: string, options: ConnectOptions = {}): Promise<Connection> {
  const c = await connect(`skiff://${user}:${password}@127.0.0.1:${daemon.port}`, { heartbeatMs: 0, ...options });
  opened.push(c);
  return c;
}

async function refusal(p: Promise<unknown>): Promise<ServerError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ServerError);
  return err as ServerError;
}

beforeAll(async () => {
  const hash = async (pw: string): Promise<PasswordHash> => parsePasswordHash(await hashPassword(pw, FAST)) as PasswordHash;
  daemon = await startDaemon(resolveConfig({ host: '127.0.0.1', port: 0, http: { enabled: false }, amqp: { port: 0 } }), {
    log: silentLogger(),
    memoryOnly: true,
    auth: new UserAuthenticator({
      users: [
        { name: 'ops', passwordHash: await hash('ops-pw'), admin: true },
        { name: 'app', passwordHash: await hash('app-pw'), admin: false },
      ],
    }),
  });
});
afterAll(async () => {
  await Promise.all(opened.map((c) => c.close()));
  await daemon.stop();
  await stopAllDaemons();
});
beforeEach(() => {
  expect.hasAssertions();
});

describe('login', () => {
  it('configured users and the loopback guest get in', async () => {
    for (const [user, pw] of [
      ['ops', 'ops-pw'],
      ['app', 'app-pw'],
      ['guest', 'guest'],
    ]) {
      const c = await login(user as string, pw as string);
      expect(c.isOpen).toBe(true);
    }
    const users = (await new Admin(await login('ops', 'ops-pw')).connections()).map((c) => c.user);
    expect(users).toEqual(expect.arrayContaining(['ops', 'app', 'guest']));
  });

  it('a wrong password, an unknown user and a wrong guest password get the same refusal and a closed connection', async () => {
    const sessionsBefore = daemon.broker.sessions.size;
    const errors = await Promise.all([refusal(login('ops', 'nope')), refusal(login('mallory', 'ops-pw')), refusal(login('guest', 'ops-pw'))]);
    for (const e of errors) {
      expect({ code: e.code, replyCode: e.replyCode, scope: e.scope, methodId: e.methodId, message: e.message }).toEqual({
        code: 'ACCESS_REFUSED',
        replyCode: 403,
        scope: 'connection',
        methodId: Method.ConnectionOpen,
        message: LOGIN_REFUSED,
      });
    }
    expect(daemon.broker.sessions.size).toBe(sessionsBefore);
  });
});

describe('admin methods', () => {
  it('work for an admin user', async () => {
    const admin = new Admin(await login('ops', 'ops-pw'));
    const status = await admin.status();
    expect(status.connections).toBeGreaterThanOrEqual(1);
    expect(status.store).toBeNull();
    expect((await admin.exchanges()).map((x) => x.name)).toContain('amq.direct');
  });

  it('are refused to a plain user with ACCESS_REFUSED, and the connection stays open', async () => {
    const conn = await login('app', 'app-pw');
    const admin = new Admin(conn);
    const refused = await Promise.all([
      refusal(admin.status()),
      refusal(admin.queues()),
      refusal(admin.connections()),
      refusal(admin.closeConnection('c1')),
    ]);
    expect(refused.map((e) => [e.code, e.scope, e.methodId, e.message])).toEqual([
      ['ACCESS_REFUSED', 'request', Method.AdminStatus, "ACCESS_REFUSED - user 'app' is not an admin; admin.status needs an admin user"],
      ['ACCESS_REFUSED', 'request', Method.AdminList, "ACCESS_REFUSED - user 'app' is not an admin; admin.list needs an admin user"],
      ['ACCESS_REFUSED', 'request', Method.AdminList, "ACCESS_REFUSED - user 'app' is not an admin; admin.list needs an admin user"],
      [
        'ACCESS_REFUSED',
        'request',
        Method.AdminCloseConnection,
        "ACCESS_REFUSED - user 'app' is not an admin; admin.close-connection needs an admin user",
      ],
    ]);
    expect(conn.isOpen).toBe(true);
    const ch = await conn.channel();
    expect(await ch.declareQueue('app.work')).toMatchObject({ queue: 'app.work' });
    await ch.deleteQueue('app.work');
  });

  it('answer pipelined requests in order, refusals included', async () => {
    const admin = new Admin(await login('ops', 'ops-pw'));
    const [queues, missing, status] = await Promise.allSettled([admin.queues(), admin.closeConnection('c424242'), admin.status()]);
    expect(queues.status).toBe('fulfilled');
    expect(missing).toMatchObject({ status: 'rejected', reason: { code: 'NOT_FOUND', scope: 'request', message: "NOT_FOUND - no connection 'c424242'" } });
    expect(status).toMatchObject({ status: 'fulfilled', value: { version: expect.any(String) as unknown } });
  });

  it('refuse an unknown listing without closing the connection', async () => {
    const conn = await login('ops', 'ops-pw');
    const r = await conn.request0(Method.AdminList, ['widgets']);
    expect(r.def.id).toBe(Method.AdminError);
    expect(r.args).toEqual([
      406,
      "PRECONDITION_FAILED - unknown listing 'widgets' (expected exchanges, queues, bindings, connections, consumers, users, permissions, topic-permissions, policies, operator-policies, vhosts, vhost-limits or user-limits)",
      Method.AdminList,
    ]);
    expect((await new Admin(conn).status()).version).toEqual(expect.any(String));
  });

  it('close the connection on malformed arguments (SYNTAX_ERROR on channel 0)', async () => {
    const conn = await login('ops', 'ops-pw');
    const err = await refusal(conn.request0(Method.AdminList, [42]));
    expect({ code: err.code, scope: err.scope, message: err.message }).toEqual({
      code: 'SYNTAX_ERROR',
      scope: 'connection',
      message: "SYNTAX_ERROR - admin.list: argument 'kind' must be a string",
    });
    expect(await within(conn.closed, 'the connection to close')).toBe(err);
  });

  it('page a listing that does not fit in one frame', async () => {
    const conn = await login('ops', 'ops-pw', { frameMax: 4096 });
    const ch = await conn.channel();
    const names = Array.from({ length: 150 }, (_, i) => `page.q.${String(i).padStart(3, '0')}`);
    for (const n of names) await ch.declareQueue(n);
    const first = await conn.request0(Method.AdminList, ['queues', 0]);
    const [rows, next] = first.args as [unknown[], number];
    expect(next).toBeGreaterThan(0);
    expect(rows.length).toBe(next);
    const all = await new Admin(conn).queues();
    expect(all.map((q) => q.name).filter((n) => n.startsWith('page.q.'))).toEqual(names);
    for (const n of names) await ch.deleteQueue(n);
  });

  it('let an admin close its own connection: the reply first, then CONNECTION_FORCED', async () => {
    const conn = await login('ops', 'ops-pw', { reconnect: false });
    const admin = new Admin(conn);
    // Connections are listed in the order they opened: this one is the newest.
    const mine = (await admin.connections()).at(-1);
    expect(mine?.user).toBe('ops');
    await admin.closeConnection(mine?.id as string, 'bye');
    const cause = await within(conn.closed, 'own connection to close');
    expect(cause).toMatchObject({ code: 'CONNECTION_FORCED', message: 'CONNECTION_FORCED - bye' });
    await waitFor(() => daemon.registry.get(mine?.id as string) === undefined, 'the server to drop it');
  });
});

describe('the CLI with configured users', () => {
  const tmp = useTempDir('skiff-auth-');

  it('admin users administer, plain users get a permission error (exit 5), guest can be turned off (exit 4)', async () => {
    const ops = await hashPassword('ops-pw', FAST);
    const app = await hashPassword('app-pw', FAST);
    const config = tmp.file(
      'users.toml',
      `allow_guest = false\n\n[[users]]\nname = "ops"\npassword_hash = "${ops}"\nadmin = true\n\n[[users]]\nname = "app"\npassword_hash = "${app}"\n`,
    );
    const d = await spawnDaemon(['--config', config]);
    try {
      expect(await d.cli(['list', 'queues', '-u', 'ops', '--password', 'ops-pw'])).toMatchObject({ code: 0, stderr: '' });
      expect(await d.cli(['status', '-u', 'app', '--password', 'app-pw'])).toEqual({
        code: 5,
        stdout: '',
        stderr: "skiff: ACCESS_REFUSED - user 'app' is not an admin; admin.status needs an admin user\n",
      });
      expect(await d.cli(['definitions', 'export'], { env: { SKIFF_USER: 'app', SKIFF_PASSWORD: 'app-pw' } })).toMatchObject({
        code: 5,
        stderr: "skiff: ACCESS_REFUSED - user 'app' is not an admin; admin.list needs an admin user\n",
      });
      expect(await d.cli(['declare', 'queue', 'jobs', '-u', 'app', '--password', 'app-pw'])).toMatchObject({ code: 0 });
      expect(await d.cli(['status'])).toEqual({ code: 4, stdout: '', stderr: `skiff: ${LOGIN_REFUSED}\n` });
      expect(await d.cli(['status', '--url', `skiff://ops:wrong@127.0.0.1:${d.port}`])).toEqual({ code: 4, stdout: '', stderr: `skiff: ${LOGIN_REFUSED}\n` });
    } finally {
      expect(await d.stop()).toBe(0);
    }
  });
});
