import { createHash, randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';

/** Who a connection authenticated as. */
export interface Principal {
  user: string;
  /** Admin users may call the admin methods (status, listing, closing connections). */
  admin: boolean;
  /** RabbitMQ-style tags (`administrator`, `monitoring`, …); absent means `administrator` iff admin. */
  tags?: readonly string[];
}

/**
 * Checks credentials sent in connection.open. Returns null for wrong credentials; the caller
 * answers with one ACCESS_REFUSED message that does not say which part was wrong.
 */
export interface Authenticator {
  authenticate(username: string, password: string, remoteAddress: string): Promise<Principal | null> | Principal | null;
  /** The principal of a user named by a verified client certificate (mutual TLS); null if none. */
  certificateLogin?(username: string, remoteAddress: string): Promise<Principal | null> | Principal | null;
}

/** True for 127.0.0.0/8 and ::1, also as IPv4-mapped IPv6 addresses (how dual-stack sockets report them). */
export function isLoopback(address: string): boolean {
  return address === '::1' || address.startsWith('127.') || address.startsWith('::ffff:127.');
}

// ---- scrypt password hashes ----

/** scrypt cost: N = 2^ln, block size r, parallelism p. */
export interface ScryptParams {
  ln: number;
  r: number;
  p: number;
}

/** A parsed `$scrypt$ln=…,r=…,p=…$salt$hash` string (PHC string format, base64 without padding). */
export interface PasswordHash extends ScryptParams {
  salt: Buffer;
  hash: Buffer;
}

/**
 * N = 2^14, r = 8: 16 MiB and a few tens of ms per check, off the event loop (libuv pool).
 * Only configured users pay it, once per connection open; the guest user does not.
 */
export const DEFAULT_SCRYPT_PARAMS: Readonly<ScryptParams> = Object.freeze({ ln: 14, r: 8, p: 1 });
const SALT_BYTES = 16;
const KEY_BYTES = 32;
/** Bounds on what a configured hash may ask for, so a config cannot make logins hog memory. */
const LIMITS = { ln: [10, 20], r: [1, 32], p: [1, 16], salt: [8, 64], hash: [16, 64] } as const;

function derive(password: string, salt: Buffer, keyLength: number, params: ScryptParams): Promise<Buffer> {
  const N = 2 ** params.ln;
  const options: ScryptOptions = { N, r: params.r, p: params.p, maxmem: 256 * N * params.r + 1024 * 1024 };
  return new Promise((resolve, reject) => {
    scrypt(password.normalize('NFC'), salt, keyLength, options, (err, key) => (err === null ? resolve(key) : reject(err)));
  });
}

function b64(buf: Buffer): string {
  return buf.toString('base64').replace(/=+$/, '');
}

/** Hashes a password for the `users` table of the config (what `skiff hash-password` prints). */
export async function hashPassword(password: string, params: ScryptParams = DEFAULT_SCRYPT_PARAMS): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const hash = await derive(password, salt, KEY_BYTES, params);
  return `$scrypt$ln=${params.ln},r=${params.r},p=${params.p}$${b64(salt)}$${b64(hash)}`;
}

const HASH_RE = /^\$scrypt\$ln=(\d{1,2}),r=(\d{1,2}),p=(\d{1,2})\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$/;

/**
 * Parses a stored hash; returns a one-line reason instead when it is not one this daemon
 * accepts (the config loader reports it against the key).
 */
export function parsePasswordHash(text: string): PasswordHash | string {
  const m = HASH_RE.exec(text);
  if (m === null) return "must be a scrypt hash as printed by 'skiff hash-password' ($scrypt$ln=…,r=…,p=…$salt$hash)";
  const [ln, r, p] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const salt = Buffer.from(m[4] as string, 'base64');
  const hash = Buffer.from(m[5] as string, 'base64');
  const out: [string, number, readonly [number, number]][] = [
    ['ln', ln, LIMITS.ln],
    ['r', r, LIMITS.r],
    ['p', p, LIMITS.p],
    ['salt length', salt.length, LIMITS.salt],
    ['hash length', hash.length, LIMITS.hash],
  ];
  for (const [name, v, [lo, hi]] of out) {
    if (v < lo || v > hi) return `scrypt ${name} must be from ${lo} to ${hi}, got ${v}`;
  }
  return { ln, r, p, salt, hash };
}

/** Checks a password against a parsed hash in constant time. */
export async function verifyPassword(password: string, stored: PasswordHash): Promise<boolean> {
  const key = await derive(password, stored.salt, stored.hash.length, stored);
  return timingSafeEqual(key, stored.hash);
}

// ---- the authenticator ----

/** A user from the config's `users` table. */
export interface UserEntry {
  name: string;
  passwordHash: PasswordHash;
  admin: boolean;
}

export interface UserAuthenticatorOptions {
  users: readonly UserEntry[];
  /** The built-in `guest`/`guest` admin user, accepted from loopback only. Default true. */
  allowGuest?: boolean;
}

/** Equal-length digests, so the guest password check leaks nothing through timing. */
function sameSecret(a: string, b: string): boolean {
  return timingSafeEqual(createHash('sha256').update(a).digest(), createHash('sha256').update(b).digest());
}

/**
 * Users from the config, checked against their scrypt hashes, plus the built-in guest user
 * (as RabbitMQ's: `guest`/`guest`, admin, loopback only). A configured user named `guest`
 * replaces the built-in one. Every refusal looks the same to the client: null.
 */
export class UserAuthenticator implements Authenticator {
  private readonly users = new Map<string, UserEntry>();
  private readonly allowGuest: boolean;
  /** Checked for unknown users too, so timing does not tell which user names exist. */
  private readonly decoy: PasswordHash;

  constructor(options: UserAuthenticatorOptions) {
    for (const u of options.users) this.users.set(u.name, u);
    this.allowGuest = options.allowGuest ?? true;
    const first = options.users[0];
    this.decoy = first?.passwordHash ?? { ...DEFAULT_SCRYPT_PARAMS, salt: Buffer.alloc(SALT_BYTES), hash: Buffer.alloc(KEY_BYTES) };
  }

  async authenticate(username: string, password: string, remoteAddress: string): Promise<Principal | null> {
    const user = this.users.get(username);
    if (user !== undefined) {
      return (await verifyPassword(password, user.passwordHash)) ? { user: user.name, admin: user.admin } : null;
    }
    if (username === 'guest' && this.allowGuest) {
      return sameSecret(password, 'guest') && isLoopback(remoteAddress) ? { user: 'guest', admin: true } : null;
    }
    if (this.users.size !== 0) await verifyPassword(password, this.decoy);
    return null;
  }

  /** Everyone who may log in, the built-in guest included while it is allowed, with the admin flag. */
  list(): { name: string; admin: boolean }[] {
    const out = [...this.users.values()].map((u) => ({ name: u.name, admin: u.admin }));
    if (this.allowGuest && !this.users.has('guest')) out.unshift({ name: 'guest', admin: true });
    return out;
  }
}

/** The daemon's default when no users are configured: only the loopback guest user. */
export class GuestOnlyAuthenticator extends UserAuthenticator {
  constructor() {
    super({ users: [] });
  }
}
