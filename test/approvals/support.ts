// What the approval tests share: a webhook receiver on 127.0.0.1 that answers each request with
// the next scripted status, a gateway started from a config written to a temporary folder, and a
// held call to open approvals for (the call path that opens them is tested with the gateway).
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { argsHash, type ApprovalCall, type ApprovalSettings } from '../../src/approvals/service.js';
import type { Gateway } from '../../src/gateway/gateway.js';
import { EPHEMERAL, featureEntry, startFileGateway, type TempDir } from '../helpers/gateway.js';
import { listenLoopback } from '../helpers/http-server.js';

export interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  body: unknown;
}

export interface Receiver {
  url: string;
  received: Received[];
  /** Statuses of the next answers, in order; once used up every answer is 200. */
  script: number[];
  close(): Promise<void>;
}

export async function startReceiver(script: number[] = []): Promise<Receiver> {
  const received: Received[] = [];
  const state = { script: [...script] };
  const server: Server = createServer((req, res) => {
    let text = '';
    req.on('data', (c: Buffer) => (text += c.toString('utf8')));
    req.on('end', () => {
      received.push({ path: req.url ?? '/', headers: req.headers, body: JSON.parse(text) as unknown });
      res.writeHead(state.script.shift() ?? 200, { 'content-type': 'text/plain' }).end('ok');
    });
  });
  const { origin, close } = await listenLoopback(server);
  return {
    url: origin,
    received,
    get script() {
      return state.script;
    },
    set script(next: number[]) {
      state.script = [...next];
    },
    close,
  };
}

export const HELD_CALL: ApprovalCall = {
  server: 'fixture',
  tool: 'delete_repository',
  subject: 'tool',
  argsHash: argsHash({ repo: 'acme/site', token: 'secret-1' }),
  shownArgs: { repo: 'acme/site', note: '<script>alert(1)</script> & "quotes"', token: '[REDACTED]' },
  grant: 'ci-runner',
  agent: 'ci',
  session: 'sess-1',
  rule: '/tools/delete_*',
  reason: 'Deleting a repository needs a person.',
};

export function settings(notify: string[] = [], timeoutS = 600): ApprovalSettings {
  return { timeoutS, mode: 'hold', remember: 'none', notify };
}

export { tempDir, type TempDir } from '../helpers/gateway.js';

/** A gateway on a free loopback port in front of the feature fixture, with `extra` config keys. */
export async function startTestGateway(
  dir: TempDir,
  extra: Record<string, unknown>,
  log: (line: string) => void = () => undefined,
): Promise<Gateway> {
  const name = `gatehouse-${Math.random().toString(36).slice(2)}.json`;
  const started = await startFileGateway(
    dir,
    { ...EPHEMERAL, servers: { fixture: featureEntry() }, ...extra },
    { name, log },
  );
  return started.gateway;
}
