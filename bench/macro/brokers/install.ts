import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

let updated = false;

/**
 * Installs a Debian package with apt-get when `probe` (a file it ships) is missing. Returns
 * false, with the reason on stderr, when that is not possible here (not root, no apt-get,
 * no such package); the caller then skips that broker instead of failing the whole run.
 */
export function ensureDebianPackage(pkg: string, probe: string): boolean {
  if (existsSync(probe)) return true;
  if (process.getuid?.() !== 0) {
    process.stderr.write(`bench: ${pkg} is not installed and this is not root; install it with: sudo apt-get install ${pkg}\n`);
    return false;
  }
  try {
    process.stderr.write(`bench: installing ${pkg} with apt-get (one time)...\n`);
    if (!updated) {
      execFileSync('apt-get', ['update'], { stdio: ['ignore', 'ignore', 'inherit'], timeout: 300_000 });
      updated = true;
    }
    // Debian may try to start the packaged service; the bench never uses it (it starts its own
    // instance on 127.0.0.1), and policy-rc.d containers skip the start.
    execFileSync('apt-get', ['install', '-y', '--no-install-recommends', pkg], {
      stdio: ['ignore', 'ignore', 'inherit'],
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
      timeout: 600_000,
    });
  } catch (err) {
    process.stderr.write(`bench: could not install ${pkg}: ${(err as Error).message}\n`);
    return false;
  }
  return existsSync(probe);
}

/** The installed version of a Debian package, or 'unknown'. */
export function debianVersion(pkg: string): string {
  try {
    return execFileSync('dpkg-query', ['-W', '-f=${Version}', pkg], { encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}
