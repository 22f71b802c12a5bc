import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * RabbitMQ's stored password hashes, as its definitions export carries them: base64 of a 4-byte
 * salt followed by `H(salt ++ utf8(password))`, with H named by `hashing_algorithm`. Accepted so
 * that users imported from RabbitMQ log in with the passwords they had there.
 */
export const RABBIT_HASHING = {
  rabbit_password_hashing_sha256: { digest: 'sha256', bytes: 32 },
  rabbit_password_hashing_sha512: { digest: 'sha512', bytes: 64 },
} as const;
export type RabbitHashing = keyof typeof RABBIT_HASHING;

export interface RabbitPasswordHash {
  algorithm: RabbitHashing;
  salt: Buffer;
  hash: Buffer;
}

export function isRabbitHashing(name: string): name is RabbitHashing {
  return Object.hasOwn(RABBIT_HASHING, name);
}

/** Parses `password_hash` for `algorithm`; a one-line reason when it is not one. */
export function parseRabbitHash(text: string, algorithm: RabbitHashing): RabbitPasswordHash | string {
  const { bytes } = RABBIT_HASHING[algorithm];
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(text)) return `must be base64 (RabbitMQ's ${algorithm} format)`;
  const raw = Buffer.from(text, 'base64');
  if (raw.length !== 4 + bytes) return `must decode to ${4 + bytes} bytes (a 4-byte salt and a ${algorithm.slice(-6)} digest), got ${raw.length}`;
  return { algorithm, salt: raw.subarray(0, 4), hash: raw.subarray(4) };
}

/** Checks a password against a RabbitMQ hash in constant time. */
export function verifyRabbitPassword(password: string, stored: RabbitPasswordHash): boolean {
  const h = createHash(RABBIT_HASHING[stored.algorithm].digest).update(stored.salt).update(password, 'utf8').digest();
  return timingSafeEqual(h, stored.hash);
}

/** A RabbitMQ-format hash of `password` with `salt` (tests and tools; Skiff itself stores scrypt). */
export function rabbitHash(password: string, salt: Buffer, algorithm: RabbitHashing = 'rabbit_password_hashing_sha256'): string {
  const h = createHash(RABBIT_HASHING[algorithm].digest).update(salt).update(password, 'utf8').digest();
  return Buffer.concat([salt, h]).toString('base64');
}
