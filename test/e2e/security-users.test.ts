import { request as httpRequest } from 'node:http';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Admin, ServerError, connect, type Connection } from '../../src/client/index.js';
import { resolveConfig, type ConfigOverrides } from '../../src/config/load.js';
import type { Authenticator } from '../../src/server/auth.js';
import { startDaemon, type Daemon } from '../../src/daemon.js';
import { silentLogger } from '../../src/log/logger.js';
import { rabbitHash } from '../../src/server/rabbit-password.js';
import { spawnDaemon, stopAllDaemons } from '../helpers/cli.js';
import { FAST_SCRYPT, request, users } from '../helpers/http.js';
import { useTempDir } from '../helpers/tmp.js';

/** Users added, changed and deleted at run time over the admin methods, the HTTP API and the CLI. */

const REFUSED = 'ACCESS_REFUSED - login refused: wrong username or password';
const tmp = useTempDir('skiff-users-');
const running: Daemon[] = [];
const opened: Connection[] = [];
let dirSeq = 0;

async function start(o: ConfigOverrides & { auth?: Authenticator } = {}, dataDir?: string): Promise<Daemon> {
  const { auth, ...overrides } = o;
  const config = resolveConfig({
    host: '127.0.0.1',
    port: 0,
    store: { dataDir: dataDir ?? tmp.join(`d${++dirSeq}`), checkpointIntervalMs: 50 },
    http: { host: '127.0.0.1', port: 0 },
    amqp: { port: 0 },
    ...overrides,
    loginThrottle: { delayMs: 0, maxFailures: 1000, ...overrides.loginThrottle },
  });
  const d = await startDaemon(config, { log: silentLogger(), scrypt: FAST_SCRYPT, ...(auth !== undefined && { auth }) });
  running.push(d);
  return d;
}

async function login(d: Daemon, user: string, password: string): Promise<Connection> {
  const c = await connect(`skiff://${encodeURIComponent(user)}:${encodeURIComponent(password)}@127.0.0.1:${d.port}`, { heartbeatMs: 0, reconnect: false });
  opened.push(c);
  return c;
}

async function refused(p: Promise<unknown>): Promise<ServerError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ServerError);
  return err as ServerError;
}

const httpPort = (d: Daemon): number => d.http?.address?.port ?? 0;

afterEach(async () => {
  await Promise.all(opened.splice(0).map((c) => c.close().catch(() => undefined)));
  await Promise.all(running.splice(0).map((d) => d.stop()));
});
afterAll(() => stopAllDaemons());
beforeEach(() => {
  expect.hasAssertions();
});

describe('users at run time over the admin methods', () => {
  it('add, log in, change the password, set tags, delete: each takes effect at once', async () => {
    const d = await start();
    const admin = new Admin(await login(d, 'guest', 'guest'));
    expect(await admin.putUser('alice', { password: 'pw1' })).toBe(true);
    // A new user may not even open a vhost until given permissions in it (RabbitMQ's NOT_ALLOWED).
    expect((await refused(login(d, 'alice', 'pw1'))).message).toBe("NOT_ALLOWED - access to vhost '/' refused for user 'alice'");
    await admin.setPermissions('alice', { configure: '', write: '', read: '' });
    const alice = await login(d, 'alice', 'pw1');
    // No tags: not an admin.
    const e1 = await refused(new Admin(alice).status());
    expect(e1.message).toBe("ACCESS_REFUSED - user 'alice' is not an admin; admin.status needs an admin user");

    expect(await admin.putUser('alice', { password: 'pw2' })).toBe(false);
    expect((await refused(login(d, 'alice', 'pw1'))).message).toBe(REFUSED);
    await login(d, 'alice', 'pw2');

    await admin.putUser('alice', { tags: ['monitoring'] });
    const monitor = new Admin(await login(d, 'alice', 'pw2'));
    expect((await monitor.status()).version).toBe(d.native.version);
    expect((await refused(monitor.putUser('bob', { password: 'x' }))).message).toBe("ACCESS_REFUSED - user 'alice' is not an admin; admin.put needs an admin user");

    expect(await admin.users()).toEqual([
      { name: 'guest', tags: ['administrator'], source: 'builtin' },
      { name: 'alice', tags: ['monitoring'], source: 'runtime' },
    ]);
    await admin.deleteUser('alice');
    expect((await refused(login(d, 'alice', 'pw2'))).message).toBe(REFUSED);
  });

  it('refuses bad input with the exact error, and leaves config and built-in users alone', async () => {
    const d = await start({ auth: await users([{ name: 'ops', password: 'ops-pw', admin: true }]) });
    const admin = new Admin(await login(d, 'ops', 'ops-pw'));
    const cases: [Promise<unknown>, string][] = [
      [admin.putUser('x', { tags: ['root'] }), "PRECONDITION_FAILED - user 'x': unknown tag 'root' (expected administrator, monitoring, management, policymaker, impersonator, or none)"],
      [admin.putUser('x', {}), "PRECONDITION_FAILED - user 'x': a new user needs a password or a password hash"],
      [admin.putUser('', { password: 'p' }), "PRECONDITION_FAILED - user '': the name must not be empty"],
      [admin.putUser('x', { password: 'p', passwordHash: 'h' }), "PRECONDITION_FAILED - user 'x': give a password or a password hash, not both"],
      [admin.putUser('x', { passwordHash: 'nope' }), "PRECONDITION_FAILED - user 'x': password hash must be a scrypt hash as printed by 'skiff hash-password' ($scrypt$ln=…,r=…,p=…$salt$hash)"],
      [
        admin.putUser('x', { passwordHash: 'AAAA', hashingAlgorithm: 'rabbit_password_hashing_sha256' }),
        "PRECONDITION_FAILED - user 'x': password hash must decode to 36 bytes (a 4-byte salt and a sha256 digest), got 3",
      ],
      [admin.putUser('x', { passwordHash: 'AAAA', hashingAlgorithm: 'md5' }), "PRECONDITION_FAILED - user 'x': password hash has unknown hashing algorithm 'md5'"],
      [admin.putUser('ops', { password: 'p' }), "ACCESS_REFUSED - user 'ops' is defined in the config file ([[users]]); change it there"],
      [admin.deleteUser('guest'), "ACCESS_REFUSED - user 'guest' is the built-in guest user (allow_guest = false turns it off)"],
      [admin.deleteUser('nobody'), "NOT_FOUND - no user 'nobody'"],
    ];
    for (const [p, text] of cases) expect((await refused(p)).message).toBe(text);
    // Every refusal left the connection usable.
    expect((await admin.users()).map((u) => u.name)).toEqual(['guest', 'ops']);
  });

  it("a RabbitMQ SHA-256 hash logs in with RabbitMQ's password", async () => {
    const d = await start();
    const admin = new Admin(await login(d, 'guest', 'guest'));
    const hash = rabbitHash('from-rabbit', Buffer.from([1, 2, 3, 4]));
    await admin.putUser('imported', { passwordHash: hash, hashingAlgorithm: 'rabbit_password_hashing_sha256', tags: ['administrator'] });
    await admin.setPermissions('imported', { configure: '.*', write: '.*', read: '.*' });
    const c = await login(d, 'imported', 'from-rabbit');
    expect((await new Admin(c).status()).version).toBe(d.native.version);
    expect((await refused(login(d, 'imported', 'wrong'))).message).toBe(REFUSED);
  });

  it('run-time users survive a restart; the password change is durable once acknowledged', async () => {
    const dir = tmp.join('restart');
    const d1 = await start({}, dir);
    const admin = new Admin(await login(d1, 'guest', 'guest'));
    await admin.putUser('carol', { password: 'c1', tags: ['administrator'] });
    await admin.setPermissions('carol', { configure: '.*', write: '.*', read: '.*' });
    await admin.putUser('dave', { password: 'd1' });
    await admin.deleteUser('dave');
    await Promise.all(opened.splice(0).map((c) => c.close()));
    await d1.stop();
    running.splice(0);
    const d2 = await start({}, dir);
    const carol = new Admin(await login(d2, 'carol', 'c1'));
    expect(await carol.users()).toEqual([
      { name: 'guest', tags: ['administrator'], source: 'builtin' },
      { name: 'carol', tags: ['administrator'], source: 'runtime' },
    ]);
    expect((await refused(login(d2, 'dave', 'd1'))).message).toBe(REFUSED);
  });
});

/** One HTTP request from a chosen local address (the whole of 127.0.0.0/8 is loopback). */
function from(localAddress: string, port: number, auth: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: '127.0.0.1', port, path: '/api/whoami', localAddress, agent: false, headers: { authorization: `Basic ${Buffer.from(auth).toString('base64')}` } },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

describe('failed logins', () => {
  it('an address past its failures is refused unchecked, with the same words, on every listener; others are not', async () => {
    const d = await start({ loginThrottle: { delayMs: 0, maxFailures: 3, windowMs: 60_000 } });
    const port = httpPort(d);
    for (let i = 0; i < 3; i++) expect(await from('127.0.0.3', port, 'guest:wrong')).toBe(401);
    // The right password from that address is refused now, over HTTP and the native protocol alike.
    expect(await from('127.0.0.3', port, 'guest:guest')).toBe(401);
    const r = await request(port, 'GET', '/api/whoami', { auth: 'guest:guest' });
    expect(r.status).toBe(200);
    expect(await from('127.0.0.4', port, 'guest:guest')).toBe(200);
    // 127.0.0.1 (the native client's) has failures of its own to spend.
    expect((await refused(login(d, 'guest', 'nope'))).message).toBe(REFUSED);
    await login(d, 'guest', 'guest');
  });

  it('the native protocol is throttled per address too, and says nothing more', async () => {
    const d = await start({ loginThrottle: { delayMs: 0, maxFailures: 2, windowMs: 60_000 } });
    for (let i = 0; i < 2; i++) expect((await refused(login(d, 'guest', 'bad'))).message).toBe(REFUSED);
    expect((await refused(login(d, 'guest', 'guest'))).message).toBe(REFUSED);
    expect(await from('127.0.0.5', httpPort(d), 'guest:guest')).toBe(200);
  });
});

describe('users over the HTTP API', () => {
  it("PUT, GET, DELETE /api/users/{name} with RabbitMQ's bodies and statuses", async () => {
    const d = await start();
    const port = httpPort(d);
    expect((await request(port, 'PUT', '/api/users/erin', { body: { password: 'e1', tags: 'management,monitoring' } })).status).toBe(201);
    expect((await request(port, 'PUT', '/api/users/erin', { body: { password: 'e2' } })).status).toBe(204);
    const got = await request(port, 'GET', '/api/users/erin');
    expect(got.status).toBe(200);
    expect(got.json).toMatchObject({ name: 'erin', tags: ['management', 'monitoring'], hashing_algorithm: 'scrypt', source: 'runtime' });
    expect(got.json.password_hash).toMatch(/^\$scrypt\$ln=10,r=8,p=1\$/);
    expect((await request(port, 'GET', '/api/whoami', { auth: 'erin:e2' })).json).toEqual({ name: 'erin', tags: ['management', 'monitoring'] });
    // The old password stops working at once: no cached login outlives a change.
    expect((await request(port, 'GET', '/api/whoami', { auth: 'erin:e1' })).status).toBe(401);
    // monitoring may read listings, but not users (they carry hashes), nor change anything.
    expect((await request(port, 'GET', '/api/queues', { auth: 'erin:e2' })).status).toBe(200);
    const r403 = await request(port, 'GET', '/api/users', { auth: 'erin:e2' });
    expect(r403.json).toEqual({ error: 'access_refused', reason: "user 'erin' is not an administrator; GET /api/users needs the administrator tag" });
    const bad = await request(port, 'PUT', '/api/users/frank', { body: { password: 'p', tags: ['wizard'] } });
    expect(bad.status).toBe(400);
    expect(bad.json).toEqual({
      error: 'bad_request',
      reason: "406 PRECONDITION_FAILED - user 'frank': unknown tag 'wizard' (expected administrator, monitoring, management, policymaker, impersonator, or none)",
    });
    const unknownKey = await request(port, 'PUT', '/api/users/frank', { body: { pasword: 'p' } });
    expect(unknownKey.json.reason).toBe('406 PRECONDITION_FAILED - body.pasword: unknown key (expected password, password_hash, hashing_algorithm, tags)');
    expect((await request(port, 'DELETE', '/api/users/erin')).status).toBe(204);
    expect((await request(port, 'DELETE', '/api/users/erin')).json).toEqual({ error: 'not_found', reason: "no user 'erin'" });
    expect((await request(port, 'GET', '/api/whoami', { auth: 'erin:e2' })).status).toBe(401);
  });
});

describe('skiff user', () => {
  it('add (password from stdin), tags, password, list users, delete', async () => {
    const d = await spawnDaemon(['--config', tmp.file('fast.toml', 'login_failure_delay_ms = 0\n')]);
    expect(await d.cli(['user', 'add', 'gina', '--tags', 'monitoring'], { input: 'g-secret\n' })).toMatchObject({ code: 0, stdout: 'user gina saved with tags monitoring\n' });
    expect(await d.cli(['permissions', 'set', 'gina', '', '', ''])).toMatchObject({ code: 0, stdout: "permissions of gina on /: configure '', write '', read ''\n" });
    expect((await d.cli(['status', '-u', 'gina', '--password', 'g-secret', '--json'])).code).toBe(0);
    expect(await d.cli(['user', 'tags', 'gina', 'none'])).toMatchObject({ code: 0, stdout: 'tags of gina: none\n' });
    expect(await d.cli(['user', 'password', 'gina', 'g2'])).toMatchObject({ code: 0, stdout: 'password of gina changed\n' });
    const list = await d.cli(['list', 'users', '--json']);
    expect(JSON.parse(list.stdout)).toEqual([
      { name: 'guest', tags: ['administrator'], source: 'builtin' },
      { name: 'gina', tags: [], source: 'runtime' },
    ]);
    const bad = await d.cli(['user', 'tags', 'gina', 'root']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain("PRECONDITION_FAILED - user 'gina': unknown tag 'root'");
    expect(await d.cli(['user', 'delete', 'gina'])).toMatchObject({ code: 0, stdout: 'user gina deleted\n' });
    await d.stop();
  });
});
