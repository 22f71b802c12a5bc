import type { DaemonOptions } from '../daemon.js';
import type { Logger } from '../log/logger.js';
import { UserAuthenticator, parsePasswordHash, type PasswordHash } from '../server/auth.js';
import type { HttpOptions } from '../server/http/options.js';
import type { Config } from './schema.js';

/** What {@link startDaemon} takes, from a loaded {@link Config}. */
export function daemonOptions(config: Config, log: Logger): DaemonOptions {
  const users = config.users.map((u) => ({
    name: u.name,
    admin: u.admin,
    // The loader has already rejected hashes that do not parse.
    passwordHash: parsePasswordHash(u.passwordHash) as PasswordHash,
  }));
  return {
    host: config.host,
    port: config.port,
    log,
    auth: new UserAuthenticator({ users, allowGuest: config.allowGuest }),
    loginThrottle: { ...config.loginThrottle },
    frameMax: config.frameMax,
    channelMax: config.channelMax,
    heartbeatMs: config.heartbeatMs,
    memoryHighWatermarkBytes: config.memoryHighWatermark,
    diskFreeLimitBytes: config.diskFreeLimit,
    store: { ...config.store },
    ...(config.http.enabled && { http: withoutEnabled(config.http) }),
    ...(config.tls.certFile !== '' && { tls: tlsOptions(config) }),
  };
}

function tlsOptions(config: Config): NonNullable<DaemonOptions['tls']> {
  const t = config.tls;
  return {
    certFile: t.certFile,
    keyFile: t.keyFile,
    caFile: t.caFile === '' ? null : t.caFile,
    verifyPeer: t.verifyPeer,
    failIfNoPeerCert: t.failIfNoPeerCert,
    native: { host: t.host === '' ? config.host : t.host, port: t.port },
    http: t.http,
    certLogin: t.certLogin,
  };
}

function withoutEnabled({ enabled: _, ...options }: Config['http']): HttpOptions {
  return options;
}
