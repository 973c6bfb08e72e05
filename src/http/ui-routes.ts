// The dashboard's files at `/ui/`: the Vite build of web/ (dist/ui), served from disk with the
// right content type. Hashed assets (`/ui/assets/<name>-<hash>.js`) never change and are cached for
// a year; index.html is revalidated every time, so a new build takes effect on the next load.
// Every other path under /ui/ answers index.html: the dashboard routes on the client.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sendJson } from './respond.js';

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};

/**
 * The page may load only its own scripts and styles and talk only to this gateway: an injected
 * script from a tool's description or arguments has nowhere to run and nowhere to send a token.
 */
const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy':
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
};

const HERE = fileURLToPath(new URL('.', import.meta.url));

/**
 * Where the built dashboard is: `dist/ui` beside the compiled gateway (dist/http → dist/ui), or
 * the repository's dist/ui when the gateway runs from its TypeScript sources (src/http → dist/ui).
 */
export function defaultUiDir(): string | undefined {
  for (const dir of [resolve(HERE, '../ui'), resolve(HERE, '../../dist/ui')])
    if (existsSync(resolve(dir, 'index.html'))) return dir;
  return undefined;
}

export async function serveUi(
  dir: string | undefined,
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
): Promise<void> {
  if (req.method !== 'GET' && req.method !== 'HEAD')
    return sendJson(res, 405, { error: 'Method Not Allowed: the dashboard is read with GET.' }, { allow: 'GET, HEAD' });
  if (path === '/ui') {
    res.writeHead(308, { location: '/ui/' }).end();
    return;
  }
  if (!dir)
    return sendJson(res, 503, {
      error: 'The dashboard is not built: run "npm run build" in the Gatehouse folder, then restart the gateway.',
    });
  let relative: string;
  try {
    relative = decodeURIComponent(path.slice('/ui/'.length));
  } catch {
    return sendJson(res, 400, { error: 'Bad Request: the path is not valid percent-encoding.' });
  }
  const file = resolve(dir, relative);
  // A path that leads out of the folder (../, encoded or not) is nothing the dashboard has.
  if (relative !== '' && (!file.startsWith(dir + sep) || relative.includes('\0')))
    return sendJson(res, 404, { error: `Not found: ${path}` });
  const isAsset = relative.startsWith('assets/');
  if (isAsset || (extname(relative) !== '' && relative !== 'index.html')) {
    const body = await readFile(file).catch(() => undefined);
    if (body) return send(req, res, 200, body, contentType(file), isAsset);
    return sendJson(res, 404, { error: `Not found: ${path}` });
  }
  // A client-side route (or /ui/ itself): the application's page.
  const index = await readFile(resolve(dir, 'index.html')).catch(() => undefined);
  if (!index) return sendJson(res, 503, { error: 'The dashboard is not built: run "npm run build".' });
  send(req, res, 200, index, CONTENT_TYPES['.html']!, false);
}

function contentType(file: string): string {
  return CONTENT_TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream';
}

function send(
  req: IncomingMessage,
  res: ServerResponse,
  status: number,
  body: Buffer,
  type: string,
  immutable: boolean,
): void {
  res.writeHead(status, {
    'content-type': type,
    'content-length': body.length,
    'cache-control': immutable ? 'public, max-age=31536000, immutable' : 'no-cache',
    ...SECURITY_HEADERS,
  });
  res.end(req.method === 'HEAD' ? undefined : body);
}
