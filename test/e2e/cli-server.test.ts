import { existsSync } from 'node:fs';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { parsePasswordHash, verifyPassword, type PasswordHash } from '../../src/server/auth.js';
import { DEFAULT_STORE_OPTIONS } from '../../src/store/options.js';
import { skiff, spawnDaemon, stopAllDaemons } from '../helpers/cli.js';
import { RawClient } from '../helpers/raw.js';
import { useTempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

/** `skiff server`: configuration sources, start-up errors, logs, signals; `skiff hash-password`. */

const tmp = useTempDir('skiff-server-');
const file = tmp.file;
afterAll(async () => {
  await stopAllDaemons();
});
beforeEach(() => {
  expect.hasAssertions();
});

interface LogLine {
  level: number;
  msg: string;
  [k: string]: unknown;
}

describe('configuration: defaults < file < flags < environment', () => {
  it('with nothing given, the embedded defaults (what npm start runs)', async () => {
    const r = await skiff(['server', '--check']);
    expect(r.code).toBe(0);
    // The values themselves are pinned by test/unit/config-load.test.ts.
    expect(JSON.parse(r.stdout)).toEqual(JSON.parse(JSON.stringify(loadConfig({ env: {} }))));
    expect(JSON.parse(r.stdout)).toMatchObject({ host: '127.0.0.1', port: 5680, store: DEFAULT_STORE_OPTIONS });
  });

  it('flags override the file and the environment overrides both; --check hides password hashes', async () => {
    const hash = (await skiff(['hash-password', 'pw'])).stdout.trim();
    const path = file(
      'layers.toml',
      `port = 1111\nhost = "127.0.0.2"\ndata_dir = "/from/file"\nlog_level = "warn"\nsync_workers = 3\n[[users]]\nname = "ops"\npassword_hash = "${hash}"\nadmin = true\n`,
    );
    const r = await skiff(['server', '--config', path, '--port', '2222', '--data', '/from/flag', '--log-level', 'error', '--check'], {
      env: { SKIFF_PORT: '3333', SKIFF_LOG_LEVEL: 'debug', SKIFF_CHECKPOINT_INTERVAL_MS: '250' },
    });
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(r.stdout).not.toContain('scrypt');
    expect(JSON.parse(r.stdout)).toMatchObject({
      host: '127.0.0.2',
      port: 3333,
      logLevel: 'debug',
      users: [{ name: 'ops', admin: true }],
      store: { dataDir: '/from/flag', syncWorkers: 3, checkpointIntervalMs: 250 },
    });
  });

  it('SKIFF_CONFIG names the file', async () => {
    const path = file('env.toml', 'port = 4444\n');
    expect(JSON.parse((await skiff(['server', '--check'], { env: { SKIFF_CONFIG: path } })).stdout)).toMatchObject({ port: 4444 });
  });

  it('a bad config stops start-up with exit 2 and one line per problem, naming file, line and key', async () => {
    const path = file('bad.toml', 'port = 99999\nlog_levl = "info"\nmemory_high_watermark = -1\n');
    expect(await skiff(['server', '--config', path])).toEqual({
      code: 2,
      stdout: '',
      stderr: [
        `skiff: config: ${path}:1: port: must be an integer from 0 to 65535, got 99999`,
        `skiff: config: ${path}:2: unknown key 'log_levl' (did you mean 'log_level'?)`,
        `skiff: config: ${path}:3: memory_high_watermark: must be an integer from 0 to 9007199254740991, got -1`,
        '',
      ].join('\n'),
    });
  });

  it('bad flags and environment values are named the same way', async () => {
    expect(await skiff(['server', '--port', 'abc', '--log-format', 'xml'], { env: { SKIFF_SYNC_WORKERS: '0' } })).toEqual({
      code: 2,
      stdout: '',
      stderr:
        "skiff: config: --port: must be an integer from 0 to 65535, got 'abc'\n" +
        "skiff: config: --log-format: must be one of 'auto', 'json', 'pretty', got 'xml'\n" +
        'skiff: config: SKIFF_SYNC_WORKERS: must be an integer from 1 to 64, got 0\n',
    });
  });

  it('a missing config file and a TOML syntax error are usage errors too', async () => {
    const missing = tmp.join('missing.toml');
    expect(await skiff(['server', '--config', missing])).toEqual({
      code: 2,
      stdout: '',
      stderr: `skiff: config: ${missing}: cannot read config file: no such file\n`,
    });
    const broken = file('broken.toml', '[users\nname = "x"\n');
    const r = await skiff(['server', '--config', broken]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(new RegExp(`^skiff: config: ${broken}:1:\\d+: invalid TOML: .+\\n$`));
  });
});

describe('the running daemon', () => {
  it('logs JSON lines: start, listening port, connections and auth failures, never a line per message; SIGTERM exits 0', async () => {
    const d = await spawnDaemon();
    const startup = d.logLines().map((l) => JSON.parse(l) as LogLine);
    expect(startup[0]).toMatchObject({ level: 30, msg: 'starting', dataDir: d.dataDir, users: 0 });
    expect(startup.at(-1)).toMatchObject({ level: 30, msg: 'skiff listening', host: '127.0.0.1', port: d.port });

    await d.cli(['declare', 'queue', 'logged']);
    expect(await d.cli(['publish', '', 'logged'], { input: 'x\n'.repeat(500) })).toMatchObject({ code: 0, stdout: 'published 500 messages\n' });
    expect(await d.cli(['consume', 'logged', '-n', '500', '--ack'])).toMatchObject({ code: 0 });
    expect(await d.cli(['status', '--password', 's3cret-typo'])).toMatchObject({ code: 4 });
    await waitFor(() => d.logLines().some((l) => l.includes('authentication failed')), 'the auth failure log line');
    const closeLine = /"msg":"connection closed"/;
    await waitFor(() => d.logLines().filter((l) => closeLine.test(l)).length === 3, 'a close line for each of the three connections');

    const lines = d.logLines().map((l) => JSON.parse(l) as LogLine);
    const msgs = lines.slice(startup.length).map((l) => l.msg);
    expect(msgs.filter((m) => m === 'connection opened')).toHaveLength(3);
    expect(msgs.filter((m) => m === 'authentication failed')).toHaveLength(1);
    // Each of the three CLI runs logs its open and close; nothing else, though 1,000 messages moved.
    expect(msgs.filter((m) => !['connection opened', 'connection closed', 'authentication failed'].includes(m))).toEqual([]);
    // One line per connection's end, with who it was and how it ended.
    expect(lines.find((l) => l.msg === 'connection closed')).toMatchObject({ level: 30, user: 'guest', remote: expect.stringMatching(/^127\.0\.0\.1:\d+$/) as unknown, name: 'skiff-cli', replyCode: 200 });
    const opened = lines.find((l) => l.msg === 'connection opened') as LogLine;
    expect(opened).toMatchObject({ level: 30, user: 'guest', remote: '127.0.0.1', name: 'skiff-cli', conn: expect.stringMatching(/^c\d+$/) as unknown });
    const failed = lines.find((l) => l.msg === 'authentication failed') as LogLine;
    expect(failed).toMatchObject({ level: 40, user: 'guest', remote: '127.0.0.1' });
    expect(JSON.stringify(failed)).not.toContain('s3cret-typo');

    expect(await d.stop('SIGTERM')).toBe(0);
    const shutdown = d.logLines().map((l) => (JSON.parse(l) as LogLine).msg);
    expect(shutdown.indexOf('shutting down')).toBeGreaterThan(0);
    expect(shutdown.indexOf('stopped')).toBeGreaterThan(shutdown.indexOf('shutting down'));
    expect(d.stderr()).toBe('');
  });

  it('SIGINT stops it cleanly too', async () => {
    const d = await spawnDaemon();
    expect(await d.stop('SIGINT')).toBe(0);
  });

  it('a second signal while stopping exits 1 at once', async () => {
    const d = await spawnDaemon();
    // A peer that never answers connection.close holds the clean stop open (up to 2 s).
    const rude = await RawClient.connect(d.port);
    await rude.handshake();
    d.proc.kill('SIGTERM');
    await waitFor(() => d.logLines().some((l) => l.includes('"msg":"shutting down"')), 'the first signal to start the stop');
    expect(await d.stop('SIGTERM')).toBe(1);
    expect(d.logLines().some((l) => l.includes('"msg":"second signal: exiting without a clean stop"'))).toBe(true);
    rude.destroy();
  });

  it('exits 1 with one line when the port is taken', async () => {
    const d = await spawnDaemon();
    try {
      const data = tmp.join('second-data');
      expect(await skiff(['server', '--port', String(d.port), '--data', data, '--log-level', 'silent'])).toEqual({
        code: 1,
        stdout: '',
        stderr: `skiff: cannot listen on 127.0.0.1:${d.port}: address already in use\n`,
      });
      // The listener binds before the store opens: nothing was created for the failed start.
      expect(existsSync(data)).toBe(false);
    } finally {
      await d.stop();
    }
  });
});

describe('skiff hash-password', () => {
  it('hashes an argument or the first line of stdin, verifiably', async () => {
    const fromArg = await skiff(['hash-password', 'correct horse']);
    const fromStdin = await skiff(['hash-password'], { input: 'correct horse\nignored\n' });
    for (const r of [fromArg, fromStdin]) {
      expect(r.code).toBe(0);
      expect(r.stderr).toBe('');
      expect(r.stdout).toMatch(/^\$scrypt\$ln=14,r=8,p=1\$\S+\$\S+\n$/);
      expect(await verifyPassword('correct horse', parsePasswordHash(r.stdout.trim()) as PasswordHash)).toBe(true);
    }
    expect(fromArg.stdout).not.toBe(fromStdin.stdout);
  });

  it('refuses an empty password', async () => {
    expect(await skiff(['hash-password'], { input: '\n' })).toEqual({ code: 2, stdout: '', stderr: 'skiff: hash-password: the password is empty\n' });
  });
});
