/** NATS core (Debian's nats-server) as the speed-of-light reference for the non-durable scenarios. */
import { execFileSync, spawn } from 'node:child_process';
import { openSync, writeFileSync } from 'node:fs';
import { outDir } from '../paths.js';
import { freePort } from '../proc.js';
import { stopChild, track, waitForPort, type BrokerHandle } from './broker.js';
import { ensureDebianPackage } from './install.js';

const SERVER = '/usr/sbin/nats-server';

export async function startNats(): Promise<BrokerHandle> {
  if (!ensureDebianPackage('nats-server', SERVER)) throw new Error('nats-server is not available');
  const port = await freePort();
  const wsPort = await freePort();
  const log = openSync(`${outDir('logs')}/nats-${port}.log`, 'a');
  // Its WebSocket listener too (plain ws on loopback), for the wsfanout scenario.
  const conf = `${outDir('logs')}/nats-${port}.conf`;
  writeFileSync(conf, `websocket {\n  listen: "127.0.0.1:${wsPort}"\n  no_tls: true\n}\n`);
  const child = spawn(SERVER, ['-a', '127.0.0.1', '-p', String(port), '-c', conf], { stdio: ['ignore', log, log] });
  track(child);
  await waitForPort(port, 20_000, child);
  let version = 'unknown';
  try {
    version = execFileSync(SERVER, ['--version'], { encoding: 'utf8' }).trim().replace(/^nats-server:\s*/, '');
  } catch {
    // keep 'unknown'
  }
  return {
    kind: 'nats',
    url: `nats://127.0.0.1:${port}`,
    wsUrl: `ws://127.0.0.1:${wsPort}`,
    pid: child.pid as number,
    version,
    stop: () => stopChild(child, 5000),
  };
}
