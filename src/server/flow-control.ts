const ALARM_TEXT: Readonly<Record<string, string>> = {
  memory: 'memory high watermark',
  store: 'store checkpoint backlog',
  disk: 'disk free space below disk_free_limit',
};

/**
 * Why publishers are blocked, for `connection.blocked` and the log: what the client's operator
 * should look at. The same words on every front end.
 */
export function blockReason(reasons: readonly string[]): string {
  return reasons.map((r) => ALARM_TEXT[r] ?? r).join(', ');
}
