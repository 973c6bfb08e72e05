#!/usr/bin/env node
// The published entry point runs the compiled CLI; `npm run build` produces dist/.
import('../dist/cli/io.js').then((io) => io.exitQuietlyOnClosedPipe());
import('../dist/cli/main.js').then((m) => m.main(process.argv.slice(2)));
