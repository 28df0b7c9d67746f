#!/usr/bin/env node
// The stratus binary: runs the compiled entry point.
import { main } from '../dist/src/main.js';

// A reader that goes away early (`stratus manage image list | head`) ends the output, not the
// command with a stack trace.
process.stdout.on('error', (err) => {
  if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw err;
});

main(process.argv.slice(2)).then(
  (code) => {
    if (typeof code === 'number') process.exitCode = code;
  },
  (err) => {
    console.error(`stratus: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  },
);
