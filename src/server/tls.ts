import { readFileSync } from 'node:fs';
import type { AddressInfo, Server } from 'node:net';
import { createServer, type SecureContextOptions, type Server as TlsServer, type TLSSocket, type TlsOptions } from 'node:tls';
import type { Logger } from '../log/logger.js';

/** Where the certificate, key and CA come from, and how clients are checked (`tls_*` keys). */
export interface TlsSettings {
  /** PEM certificate chain (`tls_cert_file`). */
  certFile: string;
  /** PEM private key (`tls_key_file`). */
  keyFile: string;
  /** PEM CA bundle that client certificates must chain to (`tls_ca_file`); null = none. */
  caFile: string | null;
  /** Ask clients for a certificate and verify it against the CA (`tls_verify_peer`). */
  verifyPeer: boolean;
  /** With verifyPeer: refuse clients that send none (`tls_fail_if_no_peer_cert`). */
  failIfNoPeerCert: boolean;
}

/** A certificate or key that cannot be read or used; `key` is the config key to fix. */
export class TlsConfigError extends Error {
  override name = 'TlsConfigError';
  constructor(
    readonly key: string,
    message: string,
  ) {
    super(`${key}: ${message}`);
  }
}

function read(key: string, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new TlsConfigError(key, `cannot read '${file}': ${e.code === 'ENOENT' ? 'no such file' : e.message}`);
  }
}

function load(s: TlsSettings): SecureContextOptions {
  if (s.verifyPeer && s.caFile === null) throw new TlsConfigError('tls_ca_file', 'is required with tls_verify_peer = true (the CA client certificates must chain to)');
  const ctx: SecureContextOptions = { cert: read('tls_cert_file', s.certFile), key: read('tls_key_file', s.keyFile), minVersion: 'TLSv1.2' };
  if (s.caFile !== null) ctx.ca = read('tls_ca_file', s.caFile);
  try {
    // Builds the context once here so a key that does not match the certificate fails now, by key.
    createServer(ctx).close();
  } catch (err) {
    throw new TlsConfigError('tls_cert_file', `cannot be used with tls_key_file: ${(err as Error).message}`);
  }
  return ctx;
}

/**
 * The daemon's certificate, key and CA, shared by every TLS listener (native, HTTP, AMQP). TLS 1.2
 * is the oldest version offered. {@link reload} re-reads the files (on SIGHUP) and gives every
 * listener the new context: handshakes from then on use it, open connections carry on untouched.
 */
export class TlsCredentials {
  private context: SecureContextOptions;
  private readonly servers = new Set<TlsServer>();

  constructor(
    readonly settings: Readonly<TlsSettings>,
    private readonly log: Logger,
  ) {
    this.context = load(settings);
  }

  /** Options for `tls.createServer` / `https.createServer`. */
  serverOptions(): TlsOptions {
    const s = this.settings;
    return {
      ...this.context,
      requestCert: s.verifyPeer,
      // Without failIfNoPeerCert a client may send no certificate; one that sends a bad one is
      // still dropped, by tlsListener.
      rejectUnauthorized: s.verifyPeer && s.failIfNoPeerCert,
    };
  }

  /** Registers a server built from {@link serverOptions} for reloads. */
  track(server: TlsServer): void {
    this.servers.add(server);
    server.once('close', () => this.servers.delete(server));
  }

  /** Re-reads the files; on a problem logs it and keeps the old ones (a bad file never takes TLS down). */
  reload(): boolean {
    let next: SecureContextOptions;
    try {
      next = load(this.settings);
    } catch (err) {
      this.log.error({ err: (err as Error).message }, 'TLS certificates not reloaded; keeping the current ones');
      return false;
    }
    this.context = next;
    for (const s of this.servers) s.setSecureContext(this.serverOptions());
    this.log.info({ listeners: this.servers.size, cert: this.settings.certFile }, 'TLS certificates reloaded');
    return true;
  }
}

/**
 * The user a verified client certificate names (its subject CN), for `tls_cert_login`; null when
 * the socket is not TLS or its peer sent no certificate that verified.
 */
export function certificateUser(socket: unknown): string | null {
  const t = socket as Partial<TLSSocket>;
  if (t.encrypted !== true || t.authorized !== true || typeof t.getPeerCertificate !== 'function') return null;
  const cn = t.getPeerCertificate().subject?.CN;
  return typeof cn === 'string' && cn !== '' ? cn : null;
}

/**
 * A TLS listener for any front end: each handshaken connection goes to `accept`, the front end's
 * own entry point for a byte stream (a TLSSocket is a net.Socket), so the native protocol, AMQP
 * and the rest take TLS with one call. Failed handshakes are logged at debug and cost nothing else.
 */
export function tlsListener(credentials: TlsCredentials, accept: (socket: TLSSocket) => void, log: Logger): TlsServer {
  const server = createServer(credentials.serverOptions(), (socket) => {
    if (!badClientCertificate(credentials, socket, log)) accept(socket);
  });
  server.on('tlsClientError', (err, socket) => log.debug({ remote: socket.remoteAddress, err: err.message }, 'TLS handshake failed'));
  server.on('error', (err) => log.error({ err }, 'TLS listener error'));
  credentials.track(server);
  return server;
}

/**
 * A client that sent a certificate the CA does not vouch for is dropped (true), even where
 * sending none would have been allowed (`tls_fail_if_no_peer_cert = false`).
 */
export function badClientCertificate(credentials: TlsCredentials, socket: TLSSocket, log: Logger): boolean {
  if (!credentials.settings.verifyPeer || socket.authorized || socket.getPeerCertificate()?.subject === undefined) return false;
  log.info({ remote: socket.remoteAddress, why: String(socket.authorizationError) }, 'TLS client certificate refused');
  socket.destroy();
  return true;
}

/** `server.listen` as a promise of the bound address. */
export function listenOn(server: Server, port: number, host: string): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve(server.address() as AddressInfo);
    });
  });
}

/** True for bind addresses only this machine can reach. */
export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.') || host.startsWith('::ffff:127.');
}
