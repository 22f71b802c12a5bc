import type { DaemonOptions } from '../daemon.js';
import type { Logger } from '../log/logger.js';
import { UserAuthenticator, parsePasswordHash, type PasswordHash } from '../server/auth.js';
import type { HttpOptions } from '../server/http/options.js';
import { parseAllowedOrigins } from '../server/websocket/options.js';
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
    frameMax: config.frameMax,
    channelMax: config.channelMax,
    heartbeatMs: config.heartbeatMs,
    memoryHighWatermarkBytes: config.memoryHighWatermark,
    diskFreeLimitBytes: config.diskFreeLimit,
    store: { ...config.store },
    ...(config.http.enabled && { http: withoutEnabled(config.http) }),
    ws: { ...config.ws, allowedOrigins: parseAllowedOrigins(config.ws.allowedOrigins) },
  };
}

function withoutEnabled({ enabled: _, ...options }: Config['http']): HttpOptions {
  return options;
}
