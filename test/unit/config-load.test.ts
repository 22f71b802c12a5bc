import { readFileSync } from 'node:fs';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { authenticatorOf } from '../../src/config/authenticator.js';
import { ConfigError, loadConfig, parseConfigText, resolveConfig, type LoadOptions } from '../../src/config/load.js';
import { KeyLocator } from '../../src/config/locate.js';
import { SCALARS } from '../../src/config/schema.js';
import { silentLogger } from '../../src/log/logger.js';
import { UserAuthenticator, hashPassword } from '../../src/server/auth.js';
import { DEFAULT_STORE_OPTIONS } from '../../src/store/options.js';
import { DEFAULT_CLUSTER_OPTIONS } from '../../src/cluster/options.js';
import { useTempDir } from '../helpers/tmp.js';

const EXAMPLE = new URL('../../config.example.toml', import.meta.url);

const tmp = useTempDir('skiff-config-');
const file = tmp.file;
beforeEach(() => {
  expect.hasAssertions();
});

/** The problems a load reports, or [] when it succeeds. */
function problems(options: LoadOptions): readonly string[] {
  try {
    loadConfig({ env: {}, ...options });
    return [];
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
}

const DEFAULTS = {
  host: '127.0.0.1',
  port: 5680,
  logLevel: 'info',
  logFormat: 'auto',
  frameMax: 1048576,
  channelMax: 2047,
  heartbeatMs: 60000,
  memoryHighWatermark: 1073741824,
  diskFreeLimit: 50_000_000,
  allowGuest: true,
  loginThrottle: { delayMs: 1000, maxFailures: 10, windowMs: 60_000 },
  tls: { certFile: '', keyFile: '', caFile: '', host: '', port: 5681, amqpsPort: 5671, http: false, verifyPeer: false, failIfNoPeerCert: false, certLogin: false },
  users: [],
  store: { ...DEFAULT_STORE_OPTIONS },
  http: {
    enabled: true,
    host: '127.0.0.1',
    port: 15672,
    maxBodyBytes: 10 * 1024 * 1024,
    requestTimeoutMs: 30_000,
    metricsPrefix: 'skiff',
    metricsPublic: false,
    statsIntervalMs: 5000,
    statsSamples: 120,
  },
  ws: {
    enabled: true,
    port: -1,
    host: '127.0.0.1',
    allowedOrigins: '',
    maxConnectionsPerIp: 1000,
    handshakeTimeoutMs: 10000,
    idleTimeoutMs: 60000,
  },
  amqp: { enabled: true, host: '127.0.0.1', port: 5672 },
  cluster: { ...DEFAULT_CLUSTER_OPTIONS },
};

describe('defaults', () => {
  it('without a file, flags or environment every key has its default', () => {
    expect(loadConfig({ env: {} })).toEqual(DEFAULTS);
  });

  it('returns a frozen Config, store and users included', async () => {
    const hash = await hashPassword('pw', { ln: 10, r: 8, p: 1 });
    const c = loadConfig({ file: file('frozen.toml', `[[users]]\nname = "a"\npassword_hash = "${hash}"\n`), env: {} });
    expect(Object.isFrozen(c)).toBe(true);
    expect(Object.isFrozen(c.store)).toBe(true);
    expect(Object.isFrozen(c.http)).toBe(true);
    expect(Object.isFrozen(c.users)).toBe(true);
    expect(Object.isFrozen(c.users[0])).toBe(true);
    expect(() => {
      (c as { port: number }).port = 1;
    }).toThrow(TypeError);
  });
});

describe('config.example.toml', () => {
  const text = readFileSync(EXAMPLE, 'utf8');

  it('parses without problems to exactly the defaults', () => {
    expect(loadConfig({ file: EXAMPLE.pathname, env: {} })).toEqual(DEFAULTS);
  });

  it('sets every key explicitly, after a one-line comment', () => {
    const lines = text.split('\n');
    for (const spec of SCALARS) {
      const i = lines.findIndex((l) => l.startsWith(`${spec.key} = `));
      expect(i, `${spec.key} in config.example.toml`).toBeGreaterThan(0);
      expect(lines[i - 1], `comment above ${spec.key}`).toMatch(/^# \S/);
    }
  });

  it('documents the users table', () => {
    expect(text).toContain('# [[users]]');
    expect(text).toMatch(/# password_hash = "\$scrypt\$ln=14,r=8,p=1\$/);
  });
});

describe('validation: every problem at once, naming file, line and key', () => {
  it('reports unknown keys (with a suggestion), wrong types and out-of-range values together', () => {
    const path = file(
      'bad.toml',
      [
        '# comment',
        'host = "0.0.0.0"',
        'port = 70000',
        'prot = 1',
        'log_level = "loud"',
        'frame_max = "big"',
        'heartbeat_ms = -1',
        'allow_guest = "yes"',
        'synchronous = "full"',
        'sync_workers = 1.5',
        'colour = "blue"',
        '[tuning]',
        'x = 1',
      ].join('\n'),
    );
    expect(problems({ file: path })).toEqual([
      `${path}:3: port: must be an integer from 0 to 65535, got 70000`,
      `${path}:4: unknown key 'prot' (did you mean 'port'?)`,
      `${path}:5: log_level: must be one of 'fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent', got 'loud'`,
      `${path}:6: frame_max: must be an integer from 4096 to 67108864, got 'big'`,
      `${path}:7: heartbeat_ms: must be an integer from 0 to 3600000, got -1`,
      `${path}:8: allow_guest: must be true or false, got 'yes'`,
      `${path}:9: synchronous: must be one of 'FULL', 'NORMAL', got 'full'`,
      `${path}:10: sync_workers: must be an integer from 1 to 64, got 1.5`,
      `${path}:11: unknown key 'colour'`,
      `${path}:12: unknown key 'tuning'`,
    ]);
  });

  it('checks the store keys with their ranges', () => {
    const path = file('store.toml', 'data_dir = ""\ncheckpoint_interval_ms = 0\nmax_confirm_delay_ms = -5\nmax_pending_bytes = 1000\n');
    expect(problems({ file: path })).toEqual([
      `${path}:1: data_dir: must be a non-empty string, got ''`,
      `${path}:2: checkpoint_interval_ms: must be an integer from 1 to 3600000, got 0`,
      `${path}:3: max_confirm_delay_ms: must be an integer from 0 to 3600000, got -5`,
      `${path}:4: max_pending_bytes: must be an integer from 1048576 to 9007199254740991, got 1000`,
    ]);
  });

  it('gives the line and column of a TOML syntax error', () => {
    const path = file('syntax.toml', 'port = 5680\nhost = = "x"\n');
    expect(problems({ file: path })).toEqual([`${path}:2:8: invalid TOML: invalid value`]);
  });

  it('reports a key defined twice as the parser does', () => {
    const path = file('twice.toml', 'port = 1\nport = 2\n');
    expect(problems({ file: path })).toEqual([`${path}:2:1: invalid TOML: trying to redefine an already defined table or value`]);
  });

  it('reports a missing file', () => {
    const path = tmp.join('missing.toml');
    expect(problems({ file: path })).toEqual([`${path}: cannot read config file: no such file`]);
  });

  it('reports a directory given as the file', () => {
    expect(problems({ file: tmp.path })).toEqual([`${tmp.path}: cannot read config file: is a directory`]);
  });
});

describe('users', () => {
  let hash: string;
  beforeAll(async () => {
    hash = await hashPassword('s3cret', { ln: 10, r: 8, p: 1 });
  });

  it('reads users with their admin flag (default false)', () => {
    const path = file('users.toml', `[[users]]\nname = "ops"\npassword_hash = "${hash}"\nadmin = true\n\n[[users]]\nname = "app"\npassword_hash = "${hash}"\n`);
    expect(loadConfig({ file: path, env: {} }).users).toEqual([
      { name: 'ops', passwordHash: hash, admin: true },
      { name: 'app', passwordHash: hash, admin: false },
    ]);
  });

  it('names each bad user field by index and line', () => {
    const path = file(
      'bad-users.toml',
      [
        '[[users]]', // 1
        'name = "ops"',
        `password_hash = "${hash}"`,
        'admin = "yes"', // 4
        '[[users]]', // 5
        'admin = true',
        '[[users]]', // 7
        'name = "ops"',
        'password_hash = "plaintext"', // 9
        'pasword = "x"', // 10
        '[[users]]', // 11
        'name = 7',
        'password_hash = "$scrypt$ln=30,r=8,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA"', // 13
      ].join('\n'),
    );
    expect(problems({ file: path })).toEqual([
      `${path}:4: users[0].admin: must be true or false, got 'yes'`,
      `${path}:5: users[1].name: is required`,
      `${path}:5: users[1].password_hash: is required`,
      `${path}:10: users[2]: unknown key 'pasword' (did you mean 'password_hash'?)`,
      `${path}:9: users[2].password_hash: must be a scrypt hash as printed by 'skiff hash-password' ($scrypt$ln=…,r=…,p=…$salt$hash)`,
      `${path}:12: users[3].name: must be a non-empty string, got 7`,
      `${path}:13: users[3].password_hash: scrypt ln must be from 10 to 20, got 30`,
    ]);
  });

  it('rejects a duplicate user name', () => {
    const path = file('dup.toml', `[[users]]\nname = "a"\npassword_hash = "${hash}"\n[[users]]\nname = "a"\npassword_hash = "${hash}"\n`);
    expect(problems({ file: path })).toEqual([`${path}:5: users[1].name: duplicate user 'a'`]);
  });

  it('rejects users that are not an array of tables', () => {
    const path = file('users-str.toml', 'users = "ops"\n');
    expect(problems({ file: path })).toEqual([`${path}:1: users: must be an array of tables ([[users]]), got 'ops'`]);
  });

  it('accepts users as inline tables, pointing at the users line when one is wrong', () => {
    const path = file('inline.toml', `users = [\n  { name = "a", password_hash = "${hash}" },\n  { name = "b" },\n]\n`);
    expect(problems({ file: path })).toEqual([`${path}:1: users[1].password_hash: is required`]);
  });
});

describe('precedence: defaults < file < flags < environment', () => {
  let path: string;
  beforeAll(() => {
    path = file('prec.toml', 'port = 1000\nhost = "127.0.0.2"\ndata_dir = "/from/file"\n');
  });

  it('the file overrides defaults', () => {
    const c = loadConfig({ file: path, env: {} });
    expect([c.port, c.host, c.store.dataDir]).toEqual([1000, '127.0.0.2', '/from/file']);
  });

  it('flags override the file', () => {
    const c = loadConfig({ file: path, env: {}, flags: [{ key: 'port', flag: '--port', value: '2000' }, { key: 'data_dir', flag: '--data', value: '/from/flag' }] });
    expect([c.port, c.host, c.store.dataDir]).toEqual([2000, '127.0.0.2', '/from/flag']);
  });

  it('environment variables override flags and the file', () => {
    const c = loadConfig({
      file: path,
      flags: [{ key: 'port', flag: '--port', value: '2000' }],
      env: { SKIFF_PORT: '3000', SKIFF_DATA_DIR: '/from/env', SKIFF_LOG_LEVEL: 'debug', SKIFF_ALLOW_GUEST: 'false', SKIFF_SYNCHRONOUS: 'NORMAL', SKIFF_FRAME_MAX: '131_072' },
    });
    expect([c.port, c.host, c.store.dataDir, c.logLevel, c.allowGuest, c.store.synchronous, c.frameMax]).toEqual([
      3000,
      '127.0.0.2',
      '/from/env',
      'debug',
      false,
      'NORMAL',
      131072,
    ]);
  });

  it('SKIFF_CONFIG names the file, over --config', () => {
    const other = file('other.toml', 'port = 4000\n');
    expect(loadConfig({ file: path, env: { SKIFF_CONFIG: other } }).port).toBe(4000);
  });

  it('empty environment variables count as unset', () => {
    expect(loadConfig({ file: path, env: { SKIFF_PORT: '', SKIFF_CONFIG: '' } }).port).toBe(1000);
  });

  it('names the flag or variable of a bad value, and reports them with the file problems', () => {
    const bad = file('prec-bad.toml', 'port = "x"\n');
    expect(
      problems({
        file: bad,
        flags: [{ key: 'port', flag: '--port', value: 'eighty' }],
        env: { SKIFF_PORT: '99999', SKIFF_LOG_FORMAT: 'xml', SKIFF_ALLOW_GUEST: 'maybe', SKIFF_HEARTBEAT_MS: '1.5' },
      }),
    ).toEqual([
      `${bad}:1: port: must be an integer from 0 to 65535, got 'x'`,
      `--port: must be an integer from 0 to 65535, got 'eighty'`,
      `SKIFF_PORT: must be an integer from 0 to 65535, got 99999`,
      `SKIFF_LOG_FORMAT: must be one of 'auto', 'json', 'pretty', got 'xml'`,
      `SKIFF_HEARTBEAT_MS: must be an integer from 0 to 3600000, got '1.5'`,
      `SKIFF_ALLOW_GUEST: must be true or false, got 'maybe'`,
    ]);
  });
});

describe('the resolved Config', () => {
  it('holds every key where the daemon, store and HTTP listener read it, and the users as an authenticator', async () => {
    const hash = await hashPassword('pw', { ln: 10, r: 8, p: 1 });
    const path = file(
      'full.toml',
      [
        'host = "::1"',
        'port = 0',
        'frame_max = 65536',
        'channel_max = 16',
        'heartbeat_ms = 0',
        'memory_high_watermark = 0',
        'data_dir = "/d"',
        'checkpoint_interval_ms = 250',
        'sync_workers = 4',
        'max_confirm_delay_ms = 5',
        'synchronous = "NORMAL"',
        'max_pending_bytes = 2_097_152',
        'disk_free_limit = 0',
        'http_host = "::1"',
        'http_port = 0',
        'http_max_body_bytes = 4096',
        'http_request_timeout_ms = 500',
        'metrics_prefix = "rabbitmq"',
        'metrics_public = true',
        'stats_interval_ms = 250',
        'stats_samples = 10',
        '[[users]]',
        'name = "ops"',
        `password_hash = "${hash}"`,
        'admin = true',
      ].join('\n'),
    );
    const o = loadConfig({ file: path, env: {} });
    expect(Object.isFrozen(o) && Object.isFrozen(o.store) && Object.isFrozen(o.http)).toBe(true);
    expect(o).toMatchObject({
      host: '::1',
      port: 0,
      frameMax: 65536,
      channelMax: 16,
      heartbeatMs: 0,
      memoryHighWatermark: 0,
      store: { dataDir: '/d', checkpointIntervalMs: 250, syncWorkers: 4, maxConfirmDelayMs: 5, synchronous: 'NORMAL', maxPendingBytes: 2097152 },
      diskFreeLimit: 0,
      http: { enabled: true, host: '::1', port: 0, maxBodyBytes: 4096, requestTimeoutMs: 500, metricsPrefix: 'rabbitmq', metricsPublic: true, statsIntervalMs: 250, statsSamples: 10 },
    });
    const auth = authenticatorOf(o);
    expect(auth).toBeInstanceOf(UserAuthenticator);
    expect(await auth.authenticate('ops', 'pw', '10.0.0.1')).toEqual({ user: 'ops', admin: true });
    expect(await auth.authenticate('ops', 'wrong', '127.0.0.1')).toBeNull();
  });
});

describe('resolveConfig', () => {
  it('applies overrides by their place in the Config onto the defaults, and freezes the result', () => {
    const c = resolveConfig({ port: 0, http: { enabled: false }, store: { dataDir: '/x' } });
    expect(c).toMatchObject({ port: 0, host: '127.0.0.1', http: { enabled: false, port: 15672 }, store: { dataDir: '/x', syncWorkers: 2 } });
    expect(Object.isFrozen(c.http)).toBe(true);
  });

  it('checks overrides like any other source, naming the key', () => {
    expect(() => resolveConfig({ port: 70000 })).toThrow(new ConfigError(['port: must be an integer from 0 to 65535, got 70000']));
    expect(() => resolveConfig({ http: { prot: 1 } as never })).toThrow(new ConfigError(['http.prot: unknown config key']));
  });
});

describe('the HTTP listener and disk keys', () => {
  it('http_enabled = false (or SKIFF_HTTP_ENABLED=false) leaves the daemon without an HTTP listener', () => {
    expect(loadConfig({ file: file('off.toml', 'http_enabled = false\n'), env: {} }).http.enabled).toBe(false);
    expect(loadConfig({ env: { SKIFF_HTTP_ENABLED: 'false' } }).http.enabled).toBe(false);
    expect(loadConfig({ env: {} }).http).toMatchObject({ enabled: true, host: '127.0.0.1', port: 15672 });
  });

  it('SKIFF_* overrides every one of them', () => {
    const c = loadConfig({
      env: {
        SKIFF_HTTP_HOST: '0.0.0.0',
        SKIFF_HTTP_PORT: '0',
        SKIFF_HTTP_MAX_BODY_BYTES: '2_048',
        SKIFF_HTTP_REQUEST_TIMEOUT_MS: '1000',
        SKIFF_METRICS_PREFIX: 'rabbitmq',
        SKIFF_METRICS_PUBLIC: 'true',
        SKIFF_STATS_INTERVAL_MS: '1000',
        SKIFF_STATS_SAMPLES: '60',
        SKIFF_DISK_FREE_LIMIT: '1_000_000_000',
      },
    });
    expect(c.http).toEqual({
      enabled: true,
      host: '0.0.0.0',
      port: 0,
      maxBodyBytes: 2048,
      requestTimeoutMs: 1000,
      metricsPrefix: 'rabbitmq',
      metricsPublic: true,
      statsIntervalMs: 1000,
      statsSamples: 60,
    });
    expect(c.diskFreeLimit).toBe(1_000_000_000);
  });

  it('names the key of each bad value', () => {
    const path = file('bad-http.toml', 'http_port = 70000\nmetrics_prefix = "prom"\nhttp_max_body_bytes = 10\nstats_samples = 1\ndisk_free_limit = -1\nhttp_enabled = "no"\n');
    expect(problems({ file: path })).toEqual([
      `${path}:1: http_port: must be an integer from 0 to 65535, got 70000`,
      `${path}:2: metrics_prefix: must be one of 'skiff', 'rabbitmq', got 'prom'`,
      `${path}:3: http_max_body_bytes: must be an integer from 1024 to 1073741824, got 10`,
      `${path}:4: stats_samples: must be an integer from 2 to 10000, got 1`,
      `${path}:5: disk_free_limit: must be an integer from 0 to 9007199254740991, got -1`,
      `${path}:6: http_enabled: must be true or false, got 'no'`,
    ]);
  });
});

describe('KeyLocator', () => {
  it('finds keys in tables, arrays of tables and dotted keys, skipping multi-line strings', () => {
    const text = ['a = 1', '[t]', 'b.c = 2', '"quoted" = 3', 's = """', 'fake = 1', '"""', '[[arr]]', 'x = 1', '[[arr]]', 'x = 2'].join('\n');
    const l = new KeyLocator(text);
    expect(l.line(['a'])).toBe(1);
    expect(l.line(['t'])).toBe(2);
    expect(l.line(['t', 'b', 'c'])).toBe(3);
    expect(l.line(['t', 'quoted'])).toBe(4);
    expect(l.line(['t', 'fake'])).toBe(2);
    expect(l.line(['arr', 0, 'x'])).toBe(9);
    expect(l.line(['arr', 1, 'x'])).toBe(11);
    expect(l.line(['arr', 1, 'missing'])).toBe(10);
    expect(l.line(['nowhere'])).toBeUndefined();
  });

  it('parseConfigText works on text with any name', () => {
    expect(parseConfigText('port = -1\n', 'inline').problems).toEqual(['inline:1: port: must be an integer from 0 to 65535, got -1']);
  });
});

describe('WebSocket keys', () => {
  it('ws_allowed_origins takes origins or *, from the file or SKIFF_WS_ALLOWED_ORIGINS', () => {
    const path = file('ws.toml', 'ws_allowed_origins = "https://app.example.com, http://localhost:8080"\nws_port = 0\n');
    expect(loadConfig({ file: path, env: {} }).ws).toMatchObject({ allowedOrigins: 'https://app.example.com, http://localhost:8080', port: 0 });
    expect(loadConfig({ file: path, env: { SKIFF_WS_ALLOWED_ORIGINS: '*', SKIFF_WS_MAX_CONNECTIONS_PER_IP: '5' } }).ws).toMatchObject({
      allowedOrigins: '*',
      maxConnectionsPerIp: 5,
    });
  });

  it('names the key of a bad origin, port or timeout', () => {
    const path = file('bad-ws.toml', ['ws_allowed_origins = "https://ok.example.com,example.com"', 'ws_port = -2', 'ws_handshake_timeout_ms = 10', 'ws_enabled = 1'].join('\n'));
    expect(problems({ file: path })).toEqual([
      `${path}:1: ws_allowed_origins: 'example.com' is not an origin (scheme://host[:port]) or *`,
      `${path}:2: ws_port: must be an integer from -1 to 65535, got -2`,
      `${path}:3: ws_handshake_timeout_ms: must be an integer from 100 to 3600000, got 10`,
      `${path}:4: ws_enabled: must be true or false, got 1`,
    ]);
    expect(problems({ env: { SKIFF_WS_ALLOWED_ORIGINS: 'https://x.example.com/path' } })).toEqual([
      `SKIFF_WS_ALLOWED_ORIGINS: 'https://x.example.com/path' is not an origin (scheme://host[:port]) or *`,
    ]);
  });
});
