// `gatehouse stdio <server>`: MCP on stdin/stdout for clients that only launch commands. One
// connection is one legacy session; 2026-07-28 requests on it are answered one by one.
import { createInterface } from 'node:readline';
import type { LoadedConfig } from '../../config/load.js';
import { ClientSession } from '../../gateway/client-session.js';
import { handleModernRequest, handleSessionMessage, modernPeer, sessionEndedAnswer } from '../../gateway/dispatch.js';
import { openListen } from '../../gateway/listen.js';
import { buildGatewayCore } from '../../gateway/core.js';
import { eraOfRequest } from '../../mcp/era.js';
import type { LogFn } from '../../observability/logger.js';
import { mayUse, type Identity } from '../../identity/grants.js';
import { IdentityWatch } from '../../identity/identity-watch.js';
import { errorResponse, ErrorCode, isRequest, parseClientMessage, type JsonRpcMessage } from '../../mcp/jsonrpc.js';

export async function runStdio(
  loaded: LoadedConfig,
  server: string,
  opts: {
    stdin: NodeJS.ReadableStream;
    stdout: NodeJS.WritableStream;
    log?: (line: string) => void;
    /** The gateway's levelled log (the pino logger of `gatehouse stdio`); takes precedence over `log`. */
    logTo?: LogFn;
    /** A grant token: the client is that grant (its servers, policy, limits), as over HTTP. */
    grant?: string;
    /** How often the grant is checked while no message comes; default 30 s (tests use less). */
    grantCheckMs?: number;
  },
): Promise<void> {
  const log = opts.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const logTo: LogFn = opts.logTo ?? ((level, msg) => log(`${level}: ${msg}`));
  const core = await buildGatewayCore(loaded, logTo);
  const endpoint = core.endpoint(server);
  if (!endpoint)
    throw new Error(`Unknown server "${server}". Configured servers: ${Object.keys(loaded.config.servers).join(', ')}`);
  const write = (m: JsonRpcMessage) => opts.stdout.write(`${JSON.stringify(m)}\n`);
  let identity: Identity = { principal: 'stdio' };
  if (opts.grant !== undefined) {
    const auth = await core.grants.authenticate(`Bearer ${opts.grant}`);
    if (!auth.ok) {
      await core.close();
      throw new GrantRefused(`--grant: ${auth.reason}`);
    }
    if (!mayUse(auth.identity, server)) {
      await core.close();
      throw new GrantRefused(`--grant: grant "${auth.identity.grant?.name}" may not use server "${server}".`);
    }
    identity = auth.identity;
  }
  const session = new ClientSession(identity);
  session.channel = { send: (m) => write(m) };
  const listens: (() => void)[] = [];
  const pending = new Set<Promise<unknown>>();
  const rl = createInterface({ input: opts.stdin, crlfDelay: Infinity });
  // `current` is the grant as checked for this message: a created grant's policy file read again,
  // say, decides from the next message on, as over HTTP.
  const dispatch = (msg: JsonRpcMessage, current: Identity = identity): void => {
    let work: Promise<unknown>;
    if (isRequest(msg) && eraOfRequest(msg) === 'modern') {
      if (msg.method === 'subscriptions/listen') {
        // The listener is this grant: a resource its policy hides or denies is never subscribed.
        const listener = modernPeer(
          msg,
          current,
          () => undefined,
          () => session.open,
        );
        void openListen(endpoint, msg, write, listener).then((opened) => {
          if ('error' in opened) write(opened);
          else listens.push(opened.close);
        });
        return;
      }
      const peer = modernPeer(
        msg,
        current,
        (n) => write(n),
        () => session.open,
      );
      // Over stdio a 2026-07-28 client cancels with notifications/cancelled, which the session
      // routes by request id like a legacy one.
      const abort = new AbortController();
      session.inflight.set(msg.id, abort);
      work = handleModernRequest(endpoint, msg, peer, abort.signal).then((r) => {
        session.inflight.delete(msg.id);
        // Cancelled by the client: no answer. Ended with the session (its grant refused): told why.
        const answer = abort.signal.aborted ? sessionEndedAnswer(msg.id, abort.signal) : r;
        if (answer) write(answer);
      });
    } else {
      work = handleSessionMessage(endpoint, session, msg, current).then((r) => r && write(r));
    }
    pending.add(work);
    void work.finally(() => pending.delete(work));
  };

  // The grant is checked again before every message, as the HTTP edge checks every request: a grant
  // revoked or expired while the client runs stops working from its next request on.
  const grant = opts.grant;
  let warned = false;
  const refused = (reason: string): void => {
    if (!warned) log(`gatehouse stdio: --grant refused: ${reason}`);
    warned = true;
  };
  // Between messages too: what the connection holds open (listen streams, the session's
  // notifications and server requests) stops once the grant is revoked or expires.
  let current = identity;
  const grantWatch =
    grant === undefined
      ? undefined
      : new IdentityWatch(
          (ids) => core.grants.refusalsNow(ids),
          (m) => logTo('warn', m),
          opts.grantCheckMs,
        );
  grantWatch?.watch(
    () => current,
    (reason) => {
      refused(reason);
      for (const close of listens.splice(0)) close();
      session.close(reason);
    },
  );
  /** The grant as it is now, or why it is refused. */
  const check = async (token: string): Promise<{ identity: Identity } | { refused: string }> => {
    try {
      const auth = await core.grants.authenticate(`Bearer ${token}`);
      if (!auth.ok) return { refused: auth.reason };
      return mayUse(auth.identity, server)
        ? { identity: auth.identity }
        : { refused: `grant "${auth.identity.grant?.name}" may not use server "${server}".` };
    } catch (err) {
      return { refused: `the grant could not be checked (${err instanceof Error ? err.message : String(err)}).` };
    }
  };
  // Checks run one after another, so that messages are still handled in the order they came.
  let checked: Promise<void> = Promise.resolve();
  rl.on('line', (line) => {
    if (!line.trim()) return;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      return write(errorResponse(null, ErrorCode.ParseError, 'Parse error: a line is not valid JSON.'));
    }
    const parsed = parseClientMessage(value);
    if (!parsed.ok) return write(errorResponse(parsed.id, parsed.error.code, parsed.error.message));
    const msg = parsed.message;
    if (grant === undefined) return dispatch(msg);
    checked = checked.then(async () => {
      const checkedNow = await check(grant);
      if ('identity' in checkedNow) {
        current = checkedNow.identity;
        return dispatch(msg, checkedNow.identity);
      }
      refused(checkedNow.refused);
      if (isRequest(msg)) write(errorResponse(msg.id, ErrorCode.InvalidRequest, `Unauthorized: ${checkedNow.refused}`));
    });
  });
  await core.pool.startAll();
  await new Promise<void>((resolve) => rl.on('close', resolve));
  grantWatch?.stop();
  await checked;
  await Promise.allSettled([...pending]);
  for (const close of listens) close();
  session.close();
  await core.close();
}

/** The token given with --grant does not admit this client to this server. */
export class GrantRefused extends Error {}
