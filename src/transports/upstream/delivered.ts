// A transport's failure that came after the server had the request: it accepted it, and what it
// answered could not be read (larger than a message may be, not JSON, a stream that broke off).
// The call may have run; the gateway keeps its quota spent (gateway/spent-answer.ts). A symbol on
// the error, so the error itself, and its message, stay what they were.
const DELIVERED = Symbol('gatehouse.delivered');

/** Marks `error` as one that came after the server had the request. */
export function delivered<T>(error: T): T {
  if (typeof error === 'object' && error !== null) Object.assign(error, { [DELIVERED]: true });
  return error;
}

export function wasDelivered(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { [DELIVERED]?: boolean })[DELIVERED] === true;
}
