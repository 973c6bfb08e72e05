// Waiting in tests for something that happens in the background: one set of polling loops instead
// of a copy in every file.

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `check` until it holds (resolves) or `timeoutMs` passes (throws with `what`). */
export async function waitUntil(
  check: () => boolean | Promise<boolean>,
  timeoutMs = 5_000,
  what = 'timed out',
  everyMs = 10,
): Promise<void> {
  if (!(await becomesTrue(check, timeoutMs, everyMs))) throw new Error(what);
}

/** Polls `check` until it holds or `timeoutMs` passes, and says which: for `expect(...).toBe(true)`. */
export async function becomesTrue(
  check: () => boolean | Promise<boolean>,
  timeoutMs = 5_000,
  everyMs = 20,
): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await check()) return true;
    await sleep(everyMs);
  }
  return check();
}

/** Reads until `ok` accepts the value or `timeoutMs` passes; returns the last value read. */
export async function readUntil<T>(
  read: () => Promise<T>,
  ok: (value: T) => boolean,
  timeoutMs: number,
  everyMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (ok(value) || Date.now() > deadline) return value;
    await sleep(everyMs);
  }
}
