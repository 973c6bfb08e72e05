// Per-call work whose answer depends only on a string the same callers send again and again (a
// tool name, a request path, a Host header, a client's envelope) is computed once and looked up
// after. The memo is emptied when it is full, and a string key longer than `maxKeyChars` is not
// kept at all: callers send these keys, so whatever they send, a memo holds at most `limit` keys
// of bounded length, and a stream of distinct keys costs a recomputation now and then.

/** `memo`'s answer for `key`, computed by `compute` the first time; `memo` holds at most `limit` keys. */
export function remember<K, V>(memo: Map<K, V>, limit: number, key: K, compute: (key: K) => V, maxKeyChars = 256): V {
  if (typeof key === 'string' && key.length > maxKeyChars) return compute(key);
  const known = memo.get(key);
  if (known !== undefined || memo.has(key)) return known as V;
  const value = compute(key);
  if (memo.size >= limit) memo.clear();
  memo.set(key, value);
  return value;
}
