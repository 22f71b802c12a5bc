import { readFileSync } from 'node:fs';
import { TomlError, parse as parseToml } from 'smol-toml';
import { parsePasswordHash } from '../server/auth.js';
import { KeyLocator, type KeyPath } from './locate.js';
import { SCALARS, USER_KEYS, envName, type Config, type ScalarSpec, type UserConfig } from './schema.js';

/**
 * Every problem found while loading, one per line, each naming where (file and line, flag,
 * or environment variable) and which key. Start-up stops on it.
 */
export class ConfigError extends Error {
  override name = 'ConfigError';
  readonly code = 'ERR_CONFIG';
  readonly problems: readonly string[];
  constructor(problems: string[]) {
    super(problems.join('\n'));
    this.problems = problems;
  }
}

/** A command-line flag's value for a config key, e.g. `{ key: 'data_dir', flag: '--data', value: '/var/lib/skiff' }`. */
export interface FlagValue {
  key: string;
  flag: string;
  value: string;
}

export interface LoadOptions {
  /** Config file (`--config`); the environment's SKIFF_CONFIG wins over it. Absent: defaults only. */
  file?: string;
  flags?: readonly FlagValue[];
  /** Default `process.env`. */
  env?: Readonly<Record<string, string | undefined>>;
}

const SPECS = new Map(SCALARS.map((s) => [s.key, s]));
const KNOWN_KEYS = [...SPECS.keys(), 'users'];

/**
 * Builds the {@link Config}: defaults, then the file, then flags, then the environment
 * (`SKIFF_<KEY>`), each later source overriding earlier ones. Throws {@link ConfigError} listing
 * every problem at once.
 */
export function loadConfig(options: LoadOptions = {}): Config {
  const env = options.env ?? process.env;
  const values = new Map<string, unknown>(SCALARS.map((s) => [s.key, s.default]));
  let users: UserConfig[] = [];
  const problems: string[] = [];
  const fromEnv = env['SKIFF_CONFIG'];
  const file = fromEnv !== undefined && fromEnv !== '' ? fromEnv : options.file;
  if (file !== undefined && file !== '') {
    const fromFile = readConfigFile(file);
    problems.push(...fromFile.problems);
    for (const [k, v] of fromFile.values) values.set(k, v);
    users = fromFile.users;
  }
  for (const f of options.flags ?? []) setFromText(values, f.key, f.value, f.flag, problems);
  for (const spec of SCALARS) {
    const text = env[envName(spec.key)];
    if (text !== undefined && text !== '') setFromText(values, spec.key, text, envName(spec.key), problems);
  }
  if (problems.length === 0) problems.push(...tlsProblems(values), ...clusterProblems(values));
  if (problems.length !== 0) throw new ConfigError(problems);
  return build(values, users);
}

/** What a program (a test, an embedder) sets instead of a file: any keys, by their place in {@link Config}. */
export type ConfigOverrides = {
  readonly [K in keyof Config]?: Config[K] extends readonly unknown[] ? Config[K] : Config[K] extends object ? Partial<Config[K]> : Config[K];
};

/**
 * The defaults with `overrides` applied, checked like any other source and frozen: the one
 * {@link Config} type whoever starts a daemon hands it. Throws {@link ConfigError} naming the key.
 */
export function resolveConfig(overrides: ConfigOverrides = {}): Config {
  const values = new Map<string, unknown>(SCALARS.map((s) => [s.key, s.default]));
  const problems: string[] = [];
  const known = new Set(SCALARS.map((s) => s.path));
  for (const [head, v] of Object.entries(overrides)) {
    if (head === 'users') continue;
    const paths = isTable(v) ? Object.keys(v).map((tail) => `${head}.${tail}`) : [head];
    for (const path of paths) if (!known.has(path)) problems.push(`${path}: unknown config key`);
  }
  for (const spec of SCALARS) {
    const [head, tail] = spec.path.split('.') as [keyof Config, string | undefined];
    const top = overrides[head] as unknown;
    const value = tail === undefined ? top : isTable(top) ? top[tail] : undefined;
    if (value === undefined) continue;
    const problem = check(spec, value);
    if (problem === null) values.set(spec.key, value);
    else problems.push(`${spec.key}: ${problem}`);
  }
  if (problems.length === 0) problems.push(...tlsProblems(values), ...clusterProblems(values));
  if (problems.length !== 0) throw new ConfigError(problems);
  return build(values, [...(overrides.users ?? [])]);
}

/** A cluster node's client ports must be fixed: clients find the leader at the address the others redirect to. */
function clusterProblems(values: Map<string, unknown>): string[] {
  if (values.get('cluster_enabled') !== true) return [];
  const out: string[] = [];
  if (values.get('port') === 0) out.push('port: must not be 0 with cluster_enabled (clients reconnect to the leader at its fixed address)');
  if (values.get('amqp_enabled') === true && values.get('amqp_port') === 0) out.push('amqp_port: must not be 0 with cluster_enabled (clients reconnect to the leader at its fixed address)');
  return out;
}

/** The `tls_*` keys that only make sense together. */
function tlsProblems(values: Map<string, unknown>): string[] {
  const set = (k: string): boolean => values.get(k) !== '' && values.get(k) !== false;
  const out: string[] = [];
  if (set('tls_cert_file') && !set('tls_key_file')) out.push('tls_key_file: is required when tls_cert_file is set');
  if (!set('tls_cert_file')) {
    for (const k of ['tls_key_file', 'tls_http', 'tls_verify_peer', 'tls_cert_login']) if (set(k)) out.push(`${k}: needs tls_cert_file (TLS is off without a certificate)`);
  }
  if (set('tls_verify_peer') && !set('tls_ca_file')) out.push('tls_ca_file: is required with tls_verify_peer = true (the CA client certificates must chain to)');
  for (const k of ['tls_fail_if_no_peer_cert', 'tls_cert_login']) if (set(k) && !set('tls_verify_peer')) out.push(`${k}: needs tls_verify_peer = true`);
  return out;
}

/** Parses and checks a config file without the other sources (for tests and `--check`). */
export function readConfigFile(file: string): { values: Map<string, unknown>; users: UserConfig[]; problems: string[] } {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why = e.code === 'ENOENT' ? 'no such file' : e.code === 'EISDIR' ? 'is a directory' : e.message;
    return { values: new Map(), users: [], problems: [`${file}: cannot read config file: ${why}`] };
  }
  return parseConfigText(text, file);
}

/** Parses and checks TOML text; `name` prefixes every problem (a file name). */
export function parseConfigText(text: string, name: string): { values: Map<string, unknown>; users: UserConfig[]; problems: string[] } {
  const values = new Map<string, unknown>();
  const problems: string[] = [];
  let doc: Record<string, unknown>;
  try {
    doc = parseToml(text) as Record<string, unknown>;
  } catch (err) {
    if (!(err instanceof TomlError)) throw err;
    const what = (err.message.split('\n')[0] ?? '').replace(/^Invalid TOML document: /, '');
    return { values, users: [], problems: [`${name}:${err.line}:${err.column}: invalid TOML: ${what}`] };
  }
  const locator = new KeyLocator(text);
  const at = (path: KeyPath): string => {
    const line = locator.line(path);
    return line === undefined ? `${name}: ` : `${name}:${line}: `;
  };
  for (const [key, value] of Object.entries(doc)) {
    if (key === 'users') continue;
    const spec = SPECS.get(key);
    if (spec === undefined) {
      problems.push(`${at([key])}${unknownKey(key, KNOWN_KEYS)}`);
      continue;
    }
    const problem = check(spec, value);
    if (problem === null) values.set(key, value);
    else problems.push(`${at([key])}${key}: ${problem}`);
  }
  const users = checkUsers(doc['users'], at, problems);
  return { values, users, problems };
}

function checkUsers(raw: unknown, at: (path: KeyPath) => string, problems: string[]): UserConfig[] {
  if (raw === undefined) return [];
  if (!Array.isArray(raw)) {
    problems.push(`${at(['users'])}users: must be an array of tables ([[users]]), got ${describe(raw)}`);
    return [];
  }
  const users: UserConfig[] = [];
  const seen = new Set<string>();
  raw.forEach((u: unknown, i: number) => {
    const where = `users[${i}]`;
    if (!isTable(u)) return problems.push(`${at(['users', i])}${where}: must be a table, got ${describe(u)}`);
    for (const key of Object.keys(u)) {
      if (!(USER_KEYS as readonly string[]).includes(key)) problems.push(`${at(['users', i, key])}${where}: ${unknownKey(key, USER_KEYS)}`);
    }
    const { name, password_hash: hash, admin = false } = u;
    const before = problems.length;
    if (name === undefined) problems.push(`${at(['users', i])}${where}.name: is required`);
    else if (typeof name !== 'string' || name === '') problems.push(`${at(['users', i, 'name'])}${where}.name: must be a non-empty string, got ${describe(name)}`);
    else if (seen.has(name)) problems.push(`${at(['users', i, 'name'])}${where}.name: duplicate user '${name}'`);
    if (hash === undefined) problems.push(`${at(['users', i])}${where}.password_hash: is required`);
    else if (typeof hash !== 'string') problems.push(`${at(['users', i, 'password_hash'])}${where}.password_hash: must be a string, got ${describe(hash)}`);
    else {
      const parsed = parsePasswordHash(hash);
      if (typeof parsed === 'string') problems.push(`${at(['users', i, 'password_hash'])}${where}.password_hash: ${parsed}`);
    }
    if (typeof admin !== 'boolean') problems.push(`${at(['users', i, 'admin'])}${where}.admin: must be true or false, got ${describe(admin)}`);
    if (problems.length === before) {
      seen.add(name as string);
      users.push({ name: name as string, passwordHash: hash as string, admin: admin as boolean });
    }
    return undefined;
  });
  return users;
}

/** A flag or environment value: text, converted to the key's type. */
function setFromText(values: Map<string, unknown>, key: string, text: string, source: string, problems: string[]): void {
  const spec = SPECS.get(key);
  if (spec === undefined) throw new Error(`no config key '${key}'`);
  let value: unknown = text;
  if (spec.type === 'int' && /^-?[0-9][0-9_]*$/.test(text)) value = Number(text.replace(/_/g, ''));
  if (spec.type === 'bool' && (text === 'true' || text === 'false')) value = text === 'true';
  const problem = check(spec, value);
  if (problem === null) values.set(key, value);
  else problems.push(`${source}: ${problem}`);
}

/** Null when `value` fits `spec`, else what is wrong, as `must be …, got …`. */
function check(spec: ScalarSpec, value: unknown): string | null {
  switch (spec.type) {
    case 'int':
      if (typeof value === 'number' && Number.isInteger(value) && value >= spec.min && value <= spec.max) return null;
      return `must be an integer from ${spec.min} to ${spec.max}, got ${describe(value)}`;
    case 'string':
      if (typeof value === 'string' && (value !== '' || spec.optional === true)) return spec.check?.(value) ?? null;
      return `must be a non-empty string, got ${describe(value)}`;
    case 'bool':
      if (typeof value === 'boolean') return null;
      return `must be true or false, got ${describe(value)}`;
    case 'enum':
      if (typeof value === 'string' && spec.values.includes(value)) return null;
      return `must be one of ${spec.values.map((v) => `'${v}'`).join(', ')}, got ${describe(value)}`;
  }
}

function isTable(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Date);
}

function describe(v: unknown): string {
  if (typeof v === 'string') return `'${v}'`;
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  if (Array.isArray(v)) return 'an array';
  if (v instanceof Date) return 'a date';
  if (isTable(v)) return 'a table';
  return String(v);
}

/** `SKIFF_*` variables that are not config keys but are read elsewhere (the CLI's target, test hooks). */
const OTHER_VARIABLES = ['SKIFF_CONFIG', 'SKIFF_URL', 'SKIFF_USER', 'SKIFF_PASSWORD', 'SKIFF_STORE_FAIL_WRITES'];

/**
 * `SKIFF_*` variables of `env` that nothing reads, one warning each with a did-you-mean: a file's
 * unknown key is fatal, but the environment holds variables for other programs too, so a
 * misspelt one (`SKIFF_DATADIR`) is only warned about (the daemon logs these at start).
 */
export function unknownVariables(env: Readonly<Record<string, string | undefined>>): string[] {
  const settings = SCALARS.map((s) => s.key);
  const known = new Set([...settings.map(envName), ...OTHER_VARIABLES]);
  const out: string[] = [];
  for (const name of Object.keys(env).sort()) {
    if (!name.startsWith('SKIFF_') || known.has(name)) continue;
    const near = nearest(name.slice('SKIFF_'.length).toLowerCase(), [...settings, ...OTHER_VARIABLES.map((v) => v.slice(6).toLowerCase())]);
    out.push(`${name} is not a setting and is ignored${near === undefined ? '' : ` (did you mean ${envName(near)}?)`}`);
  }
  return out;
}

function nearest(key: string, known: readonly string[]): string | undefined {
  return known.find((k) => distance(k, key) <= 2 || (key.length >= 4 && distance(k.slice(0, key.length), key) <= 2));
}

function unknownKey(key: string, known: readonly string[]): string {
  // A typo (prot → port) or a misspelt start of a longer key (pasword → password_hash).
  const near = known.filter((k) => distance(k, key) <= 2 || (key.length >= 4 && distance(k.slice(0, key.length), key) <= 2));
  return near.length === 0 ? `unknown key '${key}'` : `unknown key '${key}' (did you mean '${near[0]}'?)`;
}

/** Levenshtein distance, for "did you mean" on short keys. */
function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min((prev[j] as number) + 1, (cur[j - 1] as number) + 1, (prev[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length] as number;
}

function build(values: Map<string, unknown>, users: UserConfig[]): Config {
  const out: Record<string, unknown> = {};
  const sections = new Set<string>();
  for (const spec of SCALARS) {
    const [head, tail] = spec.path.split('.') as [string, string | undefined];
    if (tail === undefined) out[head] = values.get(spec.key);
    else {
      sections.add(head);
      ((out[head] ??= {}) as Record<string, unknown>)[tail] = values.get(spec.key);
    }
  }
  out['users'] = Object.freeze(users.map((u) => Object.freeze({ ...u })));
  for (const s of sections) Object.freeze(out[s]);
  return Object.freeze(out) as unknown as Config;
}
