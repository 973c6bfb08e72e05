#!/usr/bin/env node
// The published entry point runs the CLI bundled into one file (`npm run build` makes it; see
// scripts/bundle-cli.mjs), which loads far faster than dist/cli/ and its hundreds of modules.
import('../dist/bundle/gatehouse.js').then((cli) => {
  cli.exitQuietlyOnClosedPipe();
  return cli.main(process.argv.slice(2));
});
