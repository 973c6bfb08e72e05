// Where a 2026-07-28 request is answered: a retry whose upstream call is parked on another replica
// goes there; everything else, here. A retry that cannot be sent on (that replica advertised no
// URL, is gone, or the request was forwarded once already) is answered here, and the relay says
// that the call must be made again.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { parkedElsewhere, type RelayContext } from '../gateway/relay.js';
import { FORWARDED_HEADER, forwardToReplica } from './forward.js';
import type { Replica } from './replica.js';

/** Forwards the request and answers it from the replica holding its call; false to answer it here. */
export type RetryRouter = (
  req: IncomingMessage,
  res: ServerResponse,
  raw: string,
  requestState: unknown,
  principal: string,
) => Promise<boolean>;

export function retryRouter(replica: Replica, ctx: RelayContext): RetryRouter {
  return async (req, res, raw, requestState, principal) => {
    if (requestState === undefined || req.headers[FORWARDED_HEADER] !== undefined) return false;
    // The state opens only for the caller it was sealed to: nobody else can make us forward.
    const holder = parkedElsewhere(requestState, principal, ctx);
    if (!holder) return false;
    const url = await replica.urlOf(holder);
    return url ? forwardToReplica(req, res, url, raw, replica.id) : false;
  };
}
