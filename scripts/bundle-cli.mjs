// Bundles the compiled CLI (dist/cli/) into one file, dist/bundle/gatehouse.js, which
// bin/gatehouse.js loads. Node 20 has no compile cache: loading the hundreds of module files of
// dist/ and node_modules one by one was most of `gatehouse start`'s time to ready, and one file
// loads far faster. The last step of `npm run build`, after tsc has written dist/cli/.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { build } from 'esbuild';

const { outputFiles } = await build({
  // The two functions bin/gatehouse.js calls.
  stdin: {
    contents:
      "export { exitQuietlyOnClosedPipe } from './dist/cli/io.js';\nexport { main } from './dist/cli/main.js';\n",
    resolveDir: '.',
    sourcefile: 'gatehouse.js',
  },
  // dist/bundle/ is as deep as dist/cli/, so the paths the code makes from import.meta.url
  // (../../package.json, ../example-server/main.js, ../ui) name the same files from here.
  outfile: 'dist/bundle/gatehouse.js',
  write: false,
  bundle: true,
  // No code splitting: `start` loads nearly all the code anyway, and was ready later from the ~40
  // chunks splitting made than from one file (though --version and other light commands gained).
  platform: 'node',
  format: 'esm',
  target: 'node20',
  // A package's ES module build before its CommonJS one (esbuild's default for Node is the
  // reverse): only an ES module build can be tree-shaken. @opentelemetry/core, of which the
  // gateway uses one class, otherwise brings its whole CommonJS build and the semantic
  // conventions, 3.3 MiB of an idle gateway's memory (bench/RESULTS.md, "Memory").
  mainFields: ['module', 'main'],
  plugins: [onlyEnglishZodMessages()],
  external: [
    // Loaded by a dynamic import only for a legacy HTTP+SSE upstream
    // (src/transports/upstream/open-transport.ts): kept out of the file so that its 0.8 MB of
    // source is not held by every gateway, and loaded from node_modules when used.
    '@modelcontextprotocol/client',
    // A native addon, which its package finds at run time.
    'better-sqlite3',
    // Loaded through createRequire only when configured (src/store/redis-connection.ts,
    // src/audit/postgres-sink.ts), which esbuild does not follow: listed so that a static import
    // added later stays outside the bundle too.
    'ioredis',
    'pg',
    // pino runs transports in worker threads from files it resolves beside its own.
    'pino',
    'thread-stream',
  ],
  // Bundled CommonJS packages call require() for Node's built-ins; an ES module has none.
  banner: {
    js: "import { createRequire as __bundleCreateRequire } from 'node:module';\nconst require = __bundleCreateRequire(import.meta.url);",
  },
});

/**
 * zod's `locales` namespace holds its messages in some fifty languages (0.4 MB of source), and
 * esbuild keeps it whole because the namespace object `z` is used as a value. Gatehouse and the
 * SDK use only the English messages, which zod sets itself from its own `en` module: the namespace
 * is built with `en` alone.
 */
function onlyEnglishZodMessages() {
  return {
    name: 'only-english-zod-messages',
    setup(b) {
      b.onLoad({ filter: /[\\/]node_modules[\\/]zod[\\/]v4[\\/]locales[\\/]index\.js$/ }, () => ({
        contents: 'export { default as en } from "./en.js";\n',
        loader: 'js',
      }));
    },
  };
}

// V8 holds a module's source text while it runs, at two bytes a character if a single one is not
// ASCII: 7.9 MiB instead of 3.9 for this file. esbuild escapes strings but leaves comments and
// regular expression literals as written, where \uXXXX is the same character (except after a
// backslash, and U+2028/9, which end a // comment).
for (const file of outputFiles) {
  const text = file.text.replace(/(\\*)([^\x00-\x7f\u2028\u2029])/g, (all, slashes, char) =>
    slashes.length % 2 ? all : `${slashes}\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
  if (/[^\x00-\x7f]/.test(text))
    console.warn(`${file.path} is not all ASCII: Node will hold it at two bytes a character`);
  mkdirSync(dirname(file.path), { recursive: true });
  writeFileSync(file.path, text);
}
