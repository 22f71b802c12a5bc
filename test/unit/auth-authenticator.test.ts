import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  GuestOnlyAuthenticator,
  UserAuthenticator,
  hashPassword,
  isLoopback,
  parsePasswordHash,
  verifyPassword,
  type PasswordHash,
} from '../../src/server/auth.js';

/** Cheap scrypt parameters: the tests check behaviour, not cost. */
const FAST = { ln: 10, r: 8, p: 1 };

beforeEach(() => {
  expect.hasAssertions();
});

describe('password hashes', () => {
  it('hashPassword prints a PHC-style scrypt string with the default cost', async () => {
    const h = await hashPassword('s3cret');
    expect(h).toMatch(/^\$scrypt\$ln=14,r=8,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/);
  });

  it('salts: the same password hashes differently each time', async () => {
    expect(await hashPassword('x', FAST)).not.toBe(await hashPassword('x', FAST));
  });

  it('verifyPassword accepts the password and nothing else', async () => {
    const parsed = parsePasswordHash(await hashPassword('s3cret', FAST)) as PasswordHash;
    expect(await verifyPassword('s3cret', parsed)).toBe(true);
    expect(await verifyPassword('s3cret ', parsed)).toBe(false);
    expect(await verifyPassword('', parsed)).toBe(false);
  });

  it('treats Unicode-equivalent passwords as equal (NFC)', async () => {
    const parsed = parsePasswordHash(await hashPassword('caf\u00e9', FAST)) as PasswordHash;
    expect(await verifyPassword('cafe\u0301', parsed)).toBe(true);
  });

  it.each([
    ['plain', "must be a scrypt hash as printed by 'skiff hash-password' ($scrypt$ln=…,r=…,p=…$salt$hash)"],
    ['$scrypt$ln=14,r=8$c2FsdHNhbHQ$aGFzaA', "must be a scrypt hash as printed by 'skiff hash-password' ($scrypt$ln=…,r=…,p=…$salt$hash)"],
    ['$scrypt$ln=9,r=8,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA', 'scrypt ln must be from 10 to 20, got 9'],
    ['$scrypt$ln=14,r=33,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA', 'scrypt r must be from 1 to 32, got 33'],
    ['$scrypt$ln=14,r=8,p=0$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA', 'scrypt p must be from 1 to 16, got 0'],
    ['$scrypt$ln=14,r=8,p=1$c2FsdA$aGFzaGhhc2hoYXNoaGFzaA', 'scrypt salt length must be from 8 to 64, got 4'],
    ['$scrypt$ln=14,r=8,p=1$c2FsdHNhbHRzYWx0$aGFzaA', 'scrypt hash length must be from 16 to 64, got 4'],
  ])('parsePasswordHash(%j) explains what is wrong', (text, why) => {
    expect(parsePasswordHash(text)).toBe(why);
  });
});

describe('isLoopback', () => {
  it.each([
    ['127.0.0.1', true],
    ['127.1.2.3', true],
    ['::1', true],
    ['::ffff:127.0.0.1', true],
    ['10.0.0.5', false],
    ['192.168.1.10', false],
    ['::ffff:10.0.0.5', false],
    ['2001:db8::1', false],
    ['1270.0.0.1', false],
    ['', false],
  ])('%j -> %s', (address, expected) => {
    expect(isLoopback(address)).toBe(expected);
  });
});

describe('UserAuthenticator', () => {
  let opsHash: PasswordHash;
  let appHash: PasswordHash;
  let guestHash: PasswordHash;
  beforeAll(async () => {
    const hash = async (pw: string): Promise<PasswordHash> => parsePasswordHash(await hashPassword(pw, FAST)) as PasswordHash;
    [opsHash, appHash, guestHash] = await Promise.all([hash('ops-pw'), hash('app-pw'), hash('guest-pw')]);
  });

  it('accepts configured users from any address, with their admin flag', async () => {
    const auth = new UserAuthenticator({
      users: [
        { name: 'ops', passwordHash: opsHash, admin: true },
        { name: 'app', passwordHash: appHash, admin: false },
      ],
    });
    expect(await auth.authenticate('ops', 'ops-pw', '10.0.0.5')).toEqual({ user: 'ops', admin: true });
    expect(await auth.authenticate('app', 'app-pw', '127.0.0.1')).toEqual({ user: 'app', admin: false });
  });

  it('refuses a wrong password, an unknown user and another user\'s password alike', async () => {
    const auth = new UserAuthenticator({ users: [{ name: 'ops', passwordHash: opsHash, admin: true }] });
    expect(await auth.authenticate('ops', 'wrong', '127.0.0.1')).toBeNull();
    expect(await auth.authenticate('nobody', 'ops-pw', '127.0.0.1')).toBeNull();
    expect(await auth.authenticate('OPS', 'ops-pw', '127.0.0.1')).toBeNull();
  });

  it('accepts the built-in guest only from loopback and only with password guest', async () => {
    const auth = new UserAuthenticator({ users: [] });
    expect(await auth.authenticate('guest', 'guest', '127.0.0.1')).toEqual({ user: 'guest', admin: true });
    expect(await auth.authenticate('guest', 'guest', '::1')).toEqual({ user: 'guest', admin: true });
    expect(await auth.authenticate('guest', 'guest', '::ffff:127.0.0.1')).toEqual({ user: 'guest', admin: true });
    expect(await auth.authenticate('guest', 'guest', '10.0.0.5')).toBeNull();
    expect(await auth.authenticate('guest', 'guest', '::ffff:192.168.1.10')).toBeNull();
    expect(await auth.authenticate('guest', 'Guest', '127.0.0.1')).toBeNull();
  });

  it('GuestOnlyAuthenticator is the loopback guest and nothing else', async () => {
    const auth = new GuestOnlyAuthenticator();
    expect(await auth.authenticate('guest', 'guest', '127.0.0.1')).toEqual({ user: 'guest', admin: true });
    expect(await auth.authenticate('guest', 'guest', '10.0.0.5')).toBeNull();
    expect(await auth.authenticate('admin', 'admin', '127.0.0.1')).toBeNull();
  });

  it('allow_guest = false turns the built-in guest off, even from loopback', async () => {
    const auth = new UserAuthenticator({ users: [], allowGuest: false });
    expect(await auth.authenticate('guest', 'guest', '127.0.0.1')).toBeNull();
  });

  it('a configured user named guest replaces the built-in one, loopback restriction included', async () => {
    const auth = new UserAuthenticator({ users: [{ name: 'guest', passwordHash: guestHash, admin: false }] });
    expect(await auth.authenticate('guest', 'guest', '127.0.0.1')).toBeNull();
    expect(await auth.authenticate('guest', 'guest-pw', '10.0.0.5')).toEqual({ user: 'guest', admin: false });
  });
});
