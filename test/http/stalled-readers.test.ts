// Proves that a client which stops reading a plain JSON answer cannot make the gateway hold it
// without end: a connection whose bytes wait and none of them leave between two looks is closed,
// so what was buffered for it is let go. A client that reads slowly, in bursts shorter than the
// check, still gets its whole answer, however long it takes.
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigSchema } from '../../src/config/schema.js';
import { startGateway, type Gateway } from '../../src/gateway/gateway.js';
import { EPHEMERAL, featureEntry } from '../helpers/gateway.js';
import { sleep } from '../helpers/wait.js';
import { ACCEPT_BOTH, modernHeaders, modernRequest } from '../helpers/wire.js';

const MIB = 1024 * 1024;
/**
 * More than the kernel's socket buffers take on loopback, so part of the answer waits in the
 * gateway; less than the 10 MiB an upstream's answer may be.
 */
const MESSAGE_BYTES = 8 * MIB;
const CHECK_MS = 1_000;

let gw: Gateway;

beforeAll(async () => {
  const config = ConfigSchema.parse({
    ...EPHEMERAL,
    limits: { max_body_bytes: 32 * MIB },
    servers: { feat: featureEntry({ policy: { version: '1', default: 'allow' } }) },
  });
  gw = await startGateway({ path: null, dir: process.cwd(), config }, { log: () => undefined, stallCheckMs: CHECK_MS });
});

afterAll(async () => {
  await gw?.close();
});

/** POSTs an echo of MESSAGE_BYTES on a raw connection whose reading the test drives. */
function postBigEcho(): Socket {
  const message = modernRequest(1, 'tools/call', { name: 'echo', arguments: { message: 'x'.repeat(MESSAGE_BYTES) } });
  const body = Buffer.from(JSON.stringify(message));
  const { port } = new URL(gw.url);
  const socket = connect(Number(port), '127.0.0.1');
  socket.pause();
  const headers = {
    host: `127.0.0.1:${port}`,
    'content-type': 'application/json',
    accept: ACCEPT_BOTH,
    'content-length': String(body.length),
    ...modernHeaders(message),
  };
  const head = Object.entries(headers)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('');
  socket.write(`POST /mcp/feat HTTP/1.1\r\n${head}\r\n`);
  socket.write(body);
  return socket;
}

/** Reads everything the connection still gives until it closes (or the answer is complete). */
function readToClose(socket: Socket, pauseMs = 0, burstMs = 0): Promise<Received> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    socket.on('error', () => undefined);
    let timer: NodeJS.Timeout | undefined;
    if (pauseMs > 0) {
      // In bursts: read for burstMs, then stop for pauseMs.
      const cycle = (): void => {
        socket.resume();
        timer = setTimeout(() => {
          socket.pause();
          timer = setTimeout(cycle, pauseMs);
        }, burstMs);
      };
      cycle();
    } else socket.resume();
    const done = (): void => {
      clearTimeout(timer);
      resolve(received(Buffer.concat(chunks).toString('latin1')));
    };
    socket.on('close', done);
    // A keep-alive connection stays open once the answer is complete: end it then. Counted as the
    // bytes come, with the head read once: joining the whole answer on every chunk (8 MiB, over a
    // hundred chunks) kept this process too busy on a loaded machine to read in time, and the
    // gateway rightly took it for a client that stopped reading.
    let got = 0;
    let complete: number | undefined;
    socket.on('data', (c: Buffer) => {
      chunks.push(c);
      got += c.length;
      if (complete === undefined) {
        const head = Buffer.concat(chunks).toString('latin1');
        const at = head.indexOf('\r\n\r\n');
        if (at < 0) return;
        const length = /content-length: (\d+)/i.exec(head.slice(0, at))?.[1];
        complete = length ? at + 4 + Number(length) : Infinity;
      }
      if (got >= complete) socket.destroy();
    });
  });
}

interface Received {
  status: string;
  /** The answer's length as its header says, and how many bytes of it came. */
  length: number;
  got: number;
  text: string;
}

function received(all: string): Received {
  const at = all.indexOf('\r\n\r\n');
  const head = all.slice(0, at);
  return {
    status: head.split('\r\n')[0] ?? '',
    length: Number(/content-length: (\d+)/i.exec(head)?.[1] ?? NaN),
    got: all.length - at - 4,
    text: all.slice(at + 4, at + 404),
  };
}

describe('a client that stops reading its answer', () => {
  it('is cut off: once none of the waiting bytes left between two checks, the connection is closed', async () => {
    const socket = postBigEcho();
    // The answer is written while the client reads nothing, for several checks.
    await sleep(6 * CHECK_MS);
    const r = await readToClose(socket);
    expect(r.status).toBe('HTTP/1.1 200 OK');
    expect(r.text).toContain('"result"');
    expect(r.length).toBeGreaterThan(MESSAGE_BYTES);
    expect(r.got).toBeLessThan(r.length);
  });

  it('a client that reads in bursts, pausing less than a check, gets the whole answer', async () => {
    const socket = postBigEcho();
    const r = await readToClose(socket, CHECK_MS / 5, 20);
    expect(r.status).toBe('HTTP/1.1 200 OK');
    expect(r.text).toContain('"result"');
    expect(r.length).toBeGreaterThan(MESSAGE_BYTES);
    expect(r.got).toBe(r.length);
  });

  it('an answer pipelined behind an event stream, which cannot go while the stream is open, closes the connection', async () => {
    const { port } = new URL(gw.url);
    const socket = connect(Number(port), '127.0.0.1');
    const message = modernRequest(2, 'tools/call', { name: 'echo', arguments: { message: 'behind' } });
    const body = JSON.stringify(message);
    const headers = Object.entries({
      host: `127.0.0.1:${port}`,
      'content-type': 'application/json',
      accept: ACCEPT_BOTH,
      'content-length': String(Buffer.byteLength(body)),
      ...modernHeaders(message),
    })
      .map(([k, v]) => `${k}: ${v}\r\n`)
      .join('');
    // Both requests in one write: the POST's answer waits behind the stream, which never ends.
    socket.write(
      `GET /sse/feat HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\naccept: text/event-stream\r\n\r\n` +
        `POST /mcp/feat HTTP/1.1\r\n${headers}\r\n${body}`,
    );
    let text = '';
    socket.on('data', (c: Buffer) => (text += String(c)));
    socket.on('error', () => undefined);
    // The client reads all the while: the stream's own bytes are taken.
    const closed = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), 6 * CHECK_MS);
      socket.once('close', () => {
        clearTimeout(timer);
        resolve(true);
      });
    });
    socket.destroy();
    expect(text).toContain('event: endpoint');
    expect(closed).toBe(true);
  });

  it('the gateway goes on answering', async () => {
    const res = await fetch(`${gw.url}/healthz`);
    expect(res.status).toBe(200);
  });
});
