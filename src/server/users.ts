import { ProtocolError, ReplyCode } from '../../protocol/index.js';
import type { Logger } from '../log/logger.js';
import type { StoredSetting } from '../store/wire.js';
import { DEFAULT_SCRYPT_PARAMS, hashPassword, parsePasswordHash, verifyPassword, type Authenticator, type PasswordHash, type Principal, type ScryptParams } from './auth.js';
import { LoginThrottle } from './login-throttle.js';
import { isRabbitHashing, parseRabbitHash, verifyRabbitPassword, type RabbitPasswordHash } from './rabbit-password.js';

/**
 * RabbitMQ's user tags. `administrator`: everything; `monitoring`: may read every listing and
 * the status (admin.status, admin.list, the HTTP API's GETs); `management` and `policymaker`
 * are accepted and shown for tools that set them. No tag: the objects the user's permissions
 * allow, nothing more.
 */
export const USER_TAGS = ['administrator', 'monitoring', 'management', 'policymaker', 'impersonator'] as const;
export type UserTag = (typeof USER_TAGS)[number];

/** Where a user comes from: the config file and the built-in guest are read-only at run time. */
export type UserSource = 'config' | 'builtin' | 'runtime';

/** A user as listings show it. */
export interface UserInfo {
  readonly name: string;
  readonly tags: readonly string[];
  readonly admin: boolean;
  readonly source: UserSource;
  /** `$scrypt$…`, or RabbitMQ's base64 for imported users; empty for config and built-in users. */
  readonly passwordHash: string;
  readonly hashingAlgorithm: string;
}

/** A change to a run-time user: a password (hashed here) or a hash, and the tags. */
export interface UserChange {
  password?: string;
  passwordHash?: string;
  /** `scrypt` (Skiff's) or RabbitMQ's `rabbit_password_hashing_sha256` / `_sha512`. Default scrypt. */
  hashingAlgorithm?: string;
  tags?: readonly string[];
}

/** The durable home of run-time settings: the topology store's `settings` table. */
export interface SettingsStore {
  readonly settings: readonly StoredSetting[];
  changeSetting(kind: string, key: string, value: string | null): Promise<void>;
}

/** The `value` JSON of a `user` setting (RabbitMQ's definition field names). */
interface StoredUser {
  password_hash: string;
  hashing_algorithm: string;
  tags: string[];
}

type Verifier = { kind: 'scrypt'; hash: PasswordHash } | { kind: 'rabbit'; hash: RabbitPasswordHash };

interface RuntimeUser {
  stored: StoredUser;
  verifier: Verifier;
}

const SCRYPT = 'scrypt';

/** The config's users and the guest: what the directory layers run-time users over. */
export type BaseAuthenticator = Authenticator & { list?(): readonly { name: string; admin: boolean }[] };

export interface UserDirectoryOptions {
  base: BaseAuthenticator;
  /** Durable store of run-time users; null keeps them in memory (a daemon without a data dir). */
  store: SettingsStore | null;
  throttle?: LoginThrottle;
  log: Logger;
  /** Cost of hashes made here (tests lower it). */
  scrypt?: ScryptParams;
}

/**
 * Every user who may log in, on every listener: the config's (and the built-in guest) as the
 * base, plus users added at run time through the admin methods or the HTTP API and kept in the
 * store. Failed logins are slowed and limited per address by one {@link LoginThrottle}, and every
 * refusal is the same `null`, never saying which part was wrong.
 */
export class UserDirectory implements Authenticator {
  private readonly runtime = new Map<string, RuntimeUser>();
  private readonly base: BaseAuthenticator;
  private readonly store: SettingsStore | null;
  private readonly scrypt: ScryptParams;
  readonly throttle: LoginThrottle;
  private readonly log: Logger;
  private readonly listeners: (() => void)[] = [];

  constructor(o: UserDirectoryOptions) {
    this.base = o.base;
    this.store = o.store;
    this.throttle = o.throttle ?? new LoginThrottle();
    this.log = o.log;
    this.scrypt = o.scrypt ?? DEFAULT_SCRYPT_PARAMS;
  }

  /**
   * Takes the run-time users the store restored. The daemon binds its ports before it opens the
   * store and serves nobody until this has run, so no login is checked against a partial list.
   */
  loadStored(): void {
    for (const s of this.store?.settings ?? []) {
      if (s.kind !== 'user') continue;
      const stored = JSON.parse(s.value) as StoredUser;
      if (this.baseNames().has(s.key)) {
        this.log.warn({ user: s.key }, 'a stored run-time user has the name of a config user; the config file wins');
        continue;
      }
      const verifier = verifierOf(stored.password_hash, stored.hashing_algorithm);
      if (typeof verifier === 'string') {
        this.log.error({ user: s.key, why: verifier }, 'stored user has an unusable password hash; it cannot log in');
        continue;
      }
      this.runtime.set(s.key, { stored, verifier });
    }
  }

  async authenticate(username: string, password: string, remoteAddress: string): Promise<Principal | null> {
    if (this.throttle.throttled(remoteAddress)) {
      this.log.warn({ user: username, remote: remoteAddress }, 'login refused unchecked: too many failed logins from this address');
      await this.throttle.failed(remoteAddress);
      return null;
    }
    const principal = await this.check(username, password, remoteAddress);
    if (principal === null) await this.throttle.failed(remoteAddress);
    return principal;
  }

  /**
   * A user named by a verified client certificate (mutual TLS, `tls_cert_login`): no password,
   * the certificate is the proof. Config, built-in and run-time users alike.
   */
  async certificateLogin(username: string, remoteAddress: string): Promise<Principal | null> {
    const u = this.runtime.get(username);
    if (u !== undefined) return { user: username, admin: u.stored.tags.includes('administrator'), tags: u.stored.tags };
    const base = (this.base.list?.() ?? []).find((b) => b.name === username);
    if (base !== undefined) return { user: base.name, admin: base.admin, tags: base.admin ? ['administrator'] : [] };
    this.log.warn({ user: username, remote: remoteAddress }, 'client certificate names no user');
    await this.throttle.failed(remoteAddress);
    return null;
  }

  private async check(username: string, password: string, remoteAddress: string): Promise<Principal | null> {
    const u = this.runtime.get(username);
    if (u === undefined) {
      const p = await this.base.authenticate(username, password, remoteAddress);
      return p === null ? null : { ...p, tags: p.tags ?? (p.admin ? ['administrator'] : []) };
    }
    const ok = u.verifier.kind === 'scrypt' ? await verifyPassword(password, u.verifier.hash) : verifyRabbitPassword(password, u.verifier.hash);
    if (!ok) return null;
    // Looked up again: the user may have been deleted or changed while scrypt ran.
    const now = this.runtime.get(username);
    if (now === undefined) return null;
    return { user: username, admin: now.stored.tags.includes('administrator'), tags: now.stored.tags };
  }

  private baseNames(): Set<string> {
    return new Set((this.base.list?.() ?? []).map((u) => u.name));
  }

  /** Calls `listener` after every change (caches of checked credentials drop theirs). */
  onChange(listener: () => void): void {
    this.listeners.push(listener);
  }

  private changed(): void {
    for (const l of this.listeners) l();
  }

  list(): UserInfo[] {
    const out: UserInfo[] = (this.base.list?.() ?? []).map((u) => ({
      name: u.name,
      admin: u.admin,
      tags: u.admin ? ['administrator'] : [],
      source: u.name === 'guest' ? ('builtin' as const) : ('config' as const),
      passwordHash: '',
      hashingAlgorithm: SCRYPT,
    }));
    const configured = new Set(out.map((u) => u.name));
    for (const [name, u] of [...this.runtime].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      if (configured.has(name)) continue;
      out.push({ name, admin: u.stored.tags.includes('administrator'), tags: u.stored.tags, source: 'runtime', passwordHash: u.stored.password_hash, hashingAlgorithm: u.stored.hashing_algorithm });
    }
    return out;
  }

  get(name: string): UserInfo | undefined {
    return this.list().find((u) => u.name === name);
  }

  /** Checks a change without making it: the import validator uses this. Returns the problem, or null. */
  static problem(name: string, change: UserChange): string | null {
    const bad = nameProblem(name);
    if (bad !== null) return bad;
    if (change.password !== undefined && change.passwordHash !== undefined) return 'give a password or a password hash, not both';
    if (change.passwordHash !== undefined) {
      const v = verifierOf(change.passwordHash, change.hashingAlgorithm ?? SCRYPT);
      if (typeof v === 'string') return `password hash ${v}`;
    } else if (change.hashingAlgorithm !== undefined && change.hashingAlgorithm !== SCRYPT && !isRabbitHashing(change.hashingAlgorithm)) {
      return `unknown hashing algorithm '${change.hashingAlgorithm}' (expected scrypt, rabbit_password_hashing_sha256 or rabbit_password_hashing_sha512)`;
    }
    for (const t of change.tags ?? []) {
      if (!(USER_TAGS as readonly string[]).includes(t)) return `unknown tag '${t}' (expected ${USER_TAGS.join(', ')}, or none)`;
    }
    return null;
  }

  /**
   * Creates or changes a run-time user; resolves once it is durable. A new user needs a password
   * or hash; an existing one keeps what the change leaves out. Refuses config and built-in users.
   */
  async put(name: string, change: UserChange): Promise<'created' | 'updated'> {
    const problem = UserDirectory.problem(name, change);
    if (problem !== null) throw new ProtocolError(ReplyCode.PRECONDITION_FAILED, `user '${name}': ${problem}`);
    this.refuseBase(name);
    const old = this.runtime.get(name);
    if (old === undefined && change.password === undefined && change.passwordHash === undefined) {
      throw new ProtocolError(ReplyCode.PRECONDITION_FAILED, `user '${name}': a new user needs a password or a password hash`);
    }
    let hash = old?.stored.password_hash ?? '';
    let algorithm = old?.stored.hashing_algorithm ?? SCRYPT;
    if (change.password !== undefined) {
      hash = await hashPassword(change.password, this.scrypt);
      algorithm = SCRYPT;
    } else if (change.passwordHash !== undefined) {
      hash = change.passwordHash;
      algorithm = change.hashingAlgorithm ?? SCRYPT;
    }
    const stored: StoredUser = { password_hash: hash, hashing_algorithm: algorithm, tags: [...new Set(change.tags ?? old?.stored.tags ?? [])] };
    this.runtime.set(name, { stored, verifier: verifierOf(hash, algorithm) as Verifier });
    this.changed();
    await this.store?.changeSetting('user', name, JSON.stringify(stored));
    this.log.info({ user: name, tags: stored.tags }, old === undefined ? 'user created' : 'user changed');
    return old === undefined ? 'created' : 'updated';
  }

  /** Deletes a run-time user (their open connections stay, as in RabbitMQ); resolves once durable. */
  async delete(name: string): Promise<void> {
    this.refuseBase(name);
    if (!this.runtime.delete(name)) throw new ProtocolError(ReplyCode.NOT_FOUND, `no user '${name}'`);
    this.changed();
    await this.store?.changeSetting('user', name, null);
    this.log.info({ user: name }, 'user deleted');
  }

  private refuseBase(name: string): void {
    const base = (this.base.list?.() ?? []).find((u) => u.name === name);
    if (base === undefined) return;
    const where = name === 'guest' ? "the built-in guest user (allow_guest = false turns it off)" : 'defined in the config file ([[users]]); change it there';
    throw new ProtocolError(ReplyCode.ACCESS_REFUSED, `user '${name}' is ${where}`);
  }
}

function nameProblem(name: string): string | null {
  if (name === '') return 'the name must not be empty';
  if (Buffer.byteLength(name) > 255) return 'the name must be at most 255 bytes';
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(name)) return 'the name must not contain control characters';
  return null;
}

function verifierOf(hash: string, algorithm: string): Verifier | string {
  if (algorithm === SCRYPT) {
    const h = parsePasswordHash(hash);
    return typeof h === 'string' ? h : { kind: 'scrypt', hash: h };
  }
  if (!isRabbitHashing(algorithm)) return `has unknown hashing algorithm '${algorithm}'`;
  const h = parseRabbitHash(hash, algorithm);
  return typeof h === 'string' ? h : { kind: 'rabbit', hash: h };
}
