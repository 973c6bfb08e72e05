// Proves that an https upstream URL is reached over TLS with the certificate verified, as fetch
// did: a server whose certificate no trusted authority signed is refused with the TLS error, and
// the same server is answered once its certificate is trusted (NODE_EXTRA_CA_CERTS, in a process
// of its own). The certificate is made for the test with openssl (Debian's openssl package), which
// the test needs: without it the test fails, it is not skipped.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JSONRPCMessage } from '@modelcontextprotocol/client';
import { StreamableHttpClientTransport } from '../../src/transports/upstream/streamable-http.js';
import { TSX_LOADER } from '../helpers/index.js';

const TRANSPORT = fileURLToPath(new URL('../../src/transports/upstream/streamable-http.ts', import.meta.url));

describe('https upstream', () => {
  let dir: string;
  let server: Server;
  let url: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gatehouse-tls-'));
    execFileSync(
      'openssl',
      [
        ...['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1'],
        ...['-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')],
        ...['-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'],
      ],
      { stdio: 'ignore' },
    );
    server = createServer(
      { key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) },
      (req, res) => {
        let body = '';
        req.on('data', (c: Buffer) => (body += c.toString('utf8')));
        req.on('end', () => {
          const id = (JSON.parse(body) as { id: number }).id;
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ jsonrpc: '2.0', id, result: { over: 'tls' } }));
        });
      },
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`;
  });
  afterAll(async () => {
    server?.closeAllConnections();
    await new Promise((r) => server?.close(r));
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('a certificate no trusted authority signed is refused with the TLS error', async () => {
    const t = new StreamableHttpClientTransport(new URL(url));
    t.onerror = () => undefined;
    await t.start();
    await expect(t.send({ jsonrpc: '2.0', id: 1, method: 'ping' } as JSONRPCMessage)).rejects.toThrow(/self[- ]signed/);
    await t.close();
  });

  it('once the certificate is trusted, the request is answered over TLS', async () => {
    const script = `
      import { StreamableHttpClientTransport } from ${JSON.stringify(TRANSPORT)};
      const t = new StreamableHttpClientTransport(new URL(${JSON.stringify(url)}));
      t.onmessage = (m) => { console.log(JSON.stringify(m)); void t.close(); };
      await t.start();
      await t.send({ jsonrpc: '2.0', id: 7, method: 'ping' });
    `;
    // In a process of its own (the server here must keep answering while it runs), which trusts
    // the certificate from its start.
    const child = spawn(process.execPath, ['--import', TSX_LOADER, '--input-type=module', '-e', script], {
      env: { ...process.env, NODE_EXTRA_CA_CERTS: join(dir, 'cert.pem') },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(JSON.parse(stdout.trim())).toEqual({ jsonrpc: '2.0', id: 7, result: { over: 'tls' } });
  }, 30_000);
});
