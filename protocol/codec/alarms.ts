/** What each broker alarm is called where people read it (SPEC §3.1.4). */
const ALARM_TEXT: Readonly<Record<string, string>> = {
  memory: 'memory high watermark',
  store: 'store checkpoint backlog',
  disk: 'disk free space below disk_free_limit',
};

/**
 * Why publishers are blocked: `connection.blocked`'s reason, the log line and `skiff status`,
 * comma-separated (`memory high watermark, disk free space below disk_free_limit`).
 */
export function blockReason(alarms: readonly string[]): string {
  return alarms.map((a) => ALARM_TEXT[a] ?? a).join(', ');
}
