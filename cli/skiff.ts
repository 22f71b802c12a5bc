#!/usr/bin/env node
import { processIo } from './io.js';
import { main } from './main.js';

// `skiff consume q | head -3`: the reader went away, which ends the command, not an error.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

const code = await main(process.argv.slice(2), processIo());
// Exit explicitly (stdout and stderr are synchronous for files and pipes on POSIX, so nothing
// written is lost): a connection or logger handle left open must not keep a finished command alive.
process.stdout.write('', () => process.exit(code));
