import { UserAuthenticator, parsePasswordHash, type PasswordHash } from '../server/auth.js';
import type { Config } from './schema.js';

/** The users of `[[users]]` and `allow_guest`, as the authenticator every listener shares. */
export function authenticatorOf(config: Config): UserAuthenticator {
  const users = config.users.map((u) => ({
    name: u.name,
    admin: u.admin,
    // The loader has already rejected hashes that do not parse.
    passwordHash: parsePasswordHash(u.passwordHash) as PasswordHash,
  }));
  return new UserAuthenticator({ users, allowGuest: config.allowGuest });
}
