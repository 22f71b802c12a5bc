#!/usr/bin/env node
// `npm start` and `npm test` run the compiled daemon. `npm install` builds it (the `prepare`
// script); this rebuilds only when a source is newer than the build, so a start after an edit
// picks the edit up and a start without one costs nothing.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const built = join(root, 'dist', 'cli', 'skiff.js');
const builtBrowser = join(root, 'dist', 'browser', 'src', 'client', 'browser.js');

function newest(dir) {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) t = Math.max(t, newest(p));
    else if (e.name.endsWith('.ts') || e.name.endsWith('.json') || e.name.endsWith('.html') || e.name.endsWith('.css')) t = Math.max(t, statSync(p).mtimeMs);
  }
  return t;
}

const sources = Math.max(
  ...['src', 'protocol', 'cli'].map((d) => newest(join(root, d))),
  statSync(join(root, 'tsconfig.json')).mtimeMs,
  statSync(join(root, 'package.json')).mtimeMs,
);
const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
if (!existsSync(built) || statSync(built).mtimeMs < sources) {
  execFileSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.json')], { stdio: 'inherit' });
}
// The browser client (`skiffmq/browser`): the same sources, built without Node's types.
if (!existsSync(builtBrowser) || statSync(builtBrowser).mtimeMs < sources) {
  execFileSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.browser.json')], { stdio: 'inherit' });
}
