#!/usr/bin/env node
// The stratus binary: runs the compiled entry point.
import { main } from '../dist/src/main.js';

main(process.argv.slice(2)).then(
  (code) => {
    if (typeof code === 'number') process.exitCode = code;
  },
  (err) => {
    console.error(`stratus: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  },
);
