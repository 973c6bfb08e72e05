// An error answer to a call that reached its upstream: as far as limits go, the call happened, and
// its quota stays spent (policy-gate.ts gives quota back only for calls that did not happen). Two
// kinds of answer are marked:
// - Gatehouse's refusal to go on with a call the upstream already ran part of in an earlier round
//   (a parked call that finished or expired; relay.ts);
// - a call written to the upstream whose answer was then lost: the server closed the connection
//   while the call was in flight, or its answer could not be read (larger than a message may be).
//   An agent can bring either about with the call itself (a tool that crashes its server, an answer
//   made too large), as it can cancel a call it sent; giving the quota back would let it run any
//   number of calls a window.
// A symbol, so the mark never reaches the wire.
import type { PeerAnswer } from './peer.js';

const SPENT = Symbol('gatehouse.spent');

/** Marks an error answer as one to a call the upstream received. */
export function spent<T extends PeerAnswer>(answer: T): T {
  return Object.assign(answer, { [SPENT]: true });
}

/** Whether an error answer is to a call the upstream received: its quota is not given back. */
export function isSpent(answer: PeerAnswer): boolean {
  return (answer as { [SPENT]?: boolean })[SPENT] === true;
}
