#!/usr/bin/env node
// The registry this project installs from lacks some platform-specific optional packages at the
// versions their parents pin (e.g. @rollup/rollup-android-arm64@4.68.7). `npm install` then
// leaves them out of package-lock.json and `npm ci` refuses the lock as out of sync (npm/cli
// #9846). A lock made against a complete registry records such packages with their os/cpu so
// other platforms skip them; this script adds those records. Run it after `npm install`.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';

const lockPath = new URL('../package-lock.json', import.meta.url);
const lock = JSON.parse(readFileSync(lockPath, 'utf8'));
const pkgs = lock.packages;

function platformOf(name) {
  // Any published version carries the same os/cpu/libc; ask the registry for the latest.
  try {
    const out = execFileSync('npm', ['view', name, 'os', 'cpu', 'libc', '--json'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    if (out.trim() !== '') return JSON.parse(out);
  } catch {
    // not in the registry at all: fall through
  }
  return null;
}

let added = 0;
for (const [path, entry] of Object.entries(pkgs)) {
  const optional = entry.optionalDependencies ?? {};
  for (const [name, spec] of Object.entries(optional)) {
    const nested = `${path}/node_modules/${name}`;
    const top = `node_modules/${name}`;
    if (pkgs[nested] !== undefined || pkgs[top] !== undefined) continue;
    const platform = platformOf(name);
    if (platform === null) {
      console.error(`skipping ${name}: not in the registry, cannot learn its platform`);
      continue;
    }
    const record = { version: String(spec).replace(/^[\^~=]/, ''), optional: true };
    for (const k of ['cpu', 'os', 'libc']) if (platform[k] !== undefined) record[k] = [].concat(platform[k]);
    if (entry.license !== undefined) record.license = entry.license;
    pkgs[top] = record;
    added++;
  }
}
const sorted = Object.fromEntries(Object.entries(pkgs).sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : a < b ? -1 : a > b ? 1 : 0)));
lock.packages = sorted;
writeFileSync(lockPath, `${JSON.stringify(lock, null, 2)}\n`);
console.log(`added ${added} platform records to package-lock.json`);
