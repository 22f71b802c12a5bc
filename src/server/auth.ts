/** Who a connection authenticated as. */
export interface Principal {
  user: string;
  /** Admin users may call the admin methods (status, listing, closing connections). */
  admin: boolean;
}

/**
 * Checks credentials sent in connection.open. Returns null for wrong credentials; the caller
 * answers with one ACCESS_REFUSED message that does not say which part was wrong.
 */
export interface Authenticator {
  authenticate(username: string, password: string, remoteAddress: string): Promise<Principal | null> | Principal | null;
}

export function isLoopback(address: string): boolean {
  return address === '::1' || address.startsWith('127.') || address.startsWith('::ffff:127.');
}

/**
 * The built-in default: user `guest`, password `guest`, admin, accepted only from loopback
 * addresses (as RabbitMQ's guest user).
 */
export class GuestOnlyAuthenticator implements Authenticator {
  authenticate(username: string, password: string, remoteAddress: string): Principal | null {
    if (username === 'guest' && password === 'guest' && isLoopback(remoteAddress)) return { user: 'guest', admin: true };
    return null;
  }
}
