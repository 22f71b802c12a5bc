import { ProtocolError, ReplyCode } from '../../protocol/index.js';
import type { UserChange, UserDirectory } from './users.js';

const KEYS = ['password', 'password_hash', 'hashing_algorithm', 'tags'];

/**
 * A user change as RabbitMQ's `PUT /api/users/{name}` body spells it (`password` or
 * `password_hash` with `hashing_algorithm`, `tags` as a comma-separated string or an array),
 * which is also what `admin.put user` carries. Problems are PRECONDITION_FAILED naming the key
 * under `where` (`body`, `value`).
 */
export function parseUserChange(value: Record<string, unknown>, where: string): UserChange {
  const bad = (key: string, why: string): ProtocolError => new ProtocolError(ReplyCode.PRECONDITION_FAILED, `${where}.${key}: ${why}`);
  for (const k of Object.keys(value)) if (!KEYS.includes(k)) throw bad(k, `unknown key (expected ${KEYS.join(', ')})`);
  const str = (key: string): string | undefined => {
    const v = value[key];
    if (v === undefined) return undefined;
    if (typeof v !== 'string') throw bad(key, `must be a string, got ${typeof v}`);
    return v;
  };
  const change: UserChange = {};
  const password = str('password');
  const hash = str('password_hash');
  const algorithm = str('hashing_algorithm');
  if (password !== undefined) change.password = password;
  // RabbitMQ's "no password" (an empty hash) cannot log in with one; Skiff has no such user.
  if (hash !== undefined) change.passwordHash = hash;
  if (algorithm !== undefined) change.hashingAlgorithm = algorithm;
  const tags = value['tags'];
  if (tags !== undefined) {
    if (typeof tags === 'string') change.tags = tags.split(',').map((t) => t.trim()).filter((t) => t !== '');
    else if (Array.isArray(tags) && tags.every((t) => typeof t === 'string')) change.tags = tags as string[];
    else throw bad('tags', 'must be a comma-separated string or an array of strings');
  }
  return change;
}

/** Parses and applies a change: what `admin.put user` and `PUT /api/users/{name}` both do. */
export function putUser(users: UserDirectory, name: string, value: Record<string, unknown>, where: string): Promise<'created' | 'updated'> {
  return users.put(name, parseUserChange(value, where));
}
