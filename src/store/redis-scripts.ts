// The Lua scripts of the Redis store. Each runs atomically on the server, so one script is one
// step that no other client — another replica, the CLI — can interleave with. Numbers cross the
// Lua boundary as text formatted with %.17g: Redis would otherwise truncate a Lua number in a
// reply to an integer, and `used` can be fractional when calls have fractional costs.

/**
 * A reservation against one or more counters: the same steps and the same admission rule as the
 * SQLite store (see `admit` in store.ts), in one round trip. Every counter checks every window
 * given for it (the limits of one call that name the same counter) before any counter takes the
 * call's entry: all of them admit the call or none takes anything. Checked one script after
 * another, calls arriving together at several replicas would each see the others' entries and all
 * be refused by the tighter limit; and a call refused by a later counter would hold quota on the
 * earlier ones until it gave it back.
 *
 * KEYS    per counter, two keys: the counter (a sorted set: score = the call's time, member =
 *         `<uuid>:<cost>`, which is also the reservation's token, so a release is one ZREM) and its
 *         retention in ms (it only grows: counters shared by limits of different windows keep what
 *         the longest one needs); both expire a minute after the retention
 * ARGV    now, then per counter: cost, uuid, longestWindowMs (of the limits sharing the counter),
 *         the number of windows, then for each window: algorithm, windowMs, max
 * Returns {1, token, ...} with a token per counter in order, or {0, index, retryAfterMs, used} of
 * the first counter (from 0) and window that refuses the call.
 */
export const RESERVE_LUA = `
local now = tonumber(ARGV[1])
local function num(x) return string.format('%.17g', x) end

local counters = {}
local at = 2
for c = 1, #KEYS / 2 do
  local k = { zkey = KEYS[2 * c - 1], rkey = KEYS[2 * c], costText = ARGV[at], uuid = ARGV[at + 1], windows = {} }
  k.cost = tonumber(k.costText)
  local keep = tonumber(ARGV[at + 2]) or 0
  local n = tonumber(ARGV[at + 3])
  at = at + 4
  for i = 1, n do
    local w = { calendar = ARGV[at] == 'calendar', window = tonumber(ARGV[at + 1]), max = tonumber(ARGV[at + 2]) }
    if w.window > keep then keep = w.window end
    k.windows[i] = w
    at = at + 3
  end
  k.keep = keep
  counters[c] = k
end

-- Nil when an entry of cost at now fits this window of the counter, else {retryAfterMs, used}.
local function check(zkey, newest, cost, calendar, window, max)
  local from, to, start
  if calendar then
    start = math.floor(now / window) * window
    from, to = start, start + window
  else
    from, to = now - window + 1, now + window
  end
  local raw = redis.call('ZRANGEBYSCORE', zkey, num(from), '(' .. num(to), 'WITHSCORES')
  local ts, costs = {}, {}
  for i = 1, #raw, 2 do
    ts[#ts + 1] = tonumber(raw[i + 1])
    costs[#costs + 1] = tonumber(string.match(raw[i], ':([^:]*)$'))
  end
  if cost > max then return {window, 0} end
  if newest and now < newest - window then return {newest - window - now + 1, 0} end
  if calendar then
    local used = 0
    for i = 1, #ts do used = used + costs[i] end
    if used + cost > max then return {start + window - now, used} end
    return nil
  end
  local function sum_in(e)
    local s = 0
    for i = 1, #ts do
      if ts[i] > e - window and ts[i] <= e then s = s + costs[i] end
    end
    return s
  end
  local worst = sum_in(now)
  for i = 1, #ts do
    if ts[i] > now then
      local s = sum_in(ts[i])
      if s > worst then worst = s end
    end
  end
  if worst + cost <= max then return nil end
  -- Wait until enough of what precedes the call has left its window.
  local to_free = worst + cost - max
  for i = 1, #ts do
    if ts[i] <= now then
      to_free = to_free - costs[i]
      if to_free <= 0 then
        local wait = ts[i] + window - now + 1
        if wait < 1 then wait = 1 end
        return {wait, worst}
      end
    end
  end
  return {window, worst}
end

for c, k in ipairs(counters) do
  local retain = tonumber(redis.call('GET', k.rkey) or '0')
  if retain < 2 * k.keep then retain = 2 * k.keep end
  -- Keys expire on the server's clock while calls are stamped with the gateways' clocks: a minute
  -- more than the retention covers the difference between them (and windows of a few ms).
  k.ttl = retain + 60000
  redis.call('SET', k.rkey, num(retain), 'PX', num(k.ttl))
  local last = redis.call('ZRANGE', k.zkey, -1, -1, 'WITHSCORES')
  local newest = last[2] and tonumber(last[2]) or nil
  -- Pruned back from the newest entry, not from this call's time, which may yet be refused (see
  -- retention() in store.ts).
  if newest then redis.call('ZREMRANGEBYSCORE', k.zkey, '-inf', num(newest - retain)) end
  for _, w in ipairs(k.windows) do
    local refused = check(k.zkey, newest, k.cost, w.calendar, w.window, w.max)
    if refused then
      for d = 1, c do redis.call('PEXPIRE', counters[d].zkey, num(counters[d].ttl)) end
      return {0, c - 1, num(refused[1]), num(refused[2])}
    end
  end
end
local answer = {1}
for _, k in ipairs(counters) do
  local token = k.uuid .. ':' .. k.costText
  redis.call('ZADD', k.zkey, num(now), token)
  redis.call('PEXPIRE', k.zkey, num(k.ttl))
  answer[#answer + 1] = token
end
return answer
`;

/**
 * Opens an approval. Its hash holds the document as created (`doc`), its status, and the patches
 * of later transitions (`p1`..`pN`, applied in order): the document is never decoded and encoded
 * again in Lua, so it reads back byte for byte as it was written.
 *
 * KEYS[1] the approval, KEYS[2] the change feed (a stream)
 * ARGV    prefix, id, doc, status, created, ttlMs, matchKey, channel, feedLength
 */
export const CREATE_APPROVAL_LUA = `
local akey, feed = KEYS[1], KEYS[2]
local prefix, id, doc, status, created, ttl, mkey, channel, feedlen =
  ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9]
if redis.call('EXISTS', akey) == 1 then return redis.error_reply('APPROVAL_EXISTS approval ' .. id .. ' exists already') end
redis.call('HSET', akey, 'doc', doc, 'status', status, 'created', created, 'm', mkey, 'n', 0)
redis.call('PEXPIRE', akey, ttl)
redis.call('ZADD', prefix .. 'apr:all', created, id)
redis.call('ZADD', prefix .. 'apr:st:' .. status, created, id)
redis.call('ZADD', mkey, created, id)
if redis.call('PTTL', mkey) < tonumber(ttl) then redis.call('PEXPIRE', mkey, ttl) end
-- Index entries of approvals whose keys expired are dropped a few at a time, oldest first.
local oldest = redis.call('ZRANGE', prefix .. 'apr:all', 0, 9)
for _, old in ipairs(oldest) do
  if redis.call('EXISTS', prefix .. 'apr:' .. old) == 0 then
    redis.call('ZREM', prefix .. 'apr:all', old)
    for _, st in ipairs({'pending', 'approved', 'denied', 'expired', 'withdrawn', 'used'}) do
      redis.call('ZREM', prefix .. 'apr:st:' .. st, old)
    end
  end
end
local sid = redis.call('XADD', feed, 'MAXLEN', '~', feedlen, '*', 'id', id)
redis.call('PUBLISH', channel, cjson.encode({sid, id, doc}))
return sid
`;

/**
 * Moves an approval to a new status, only if its status is one of `from`. A finished approval's
 * key expires after the retention, or later when it is remembered for longer or still in force.
 *
 * KEYS[1] the approval, KEYS[2] the change feed
 * ARGV    prefix, id, from (comma-separated), patch, new status, now, retentionMs, channel,
 *         feedLength
 * Returns {doc, p1, ..., pN} of the updated approval, or nil.
 */
export const TRANSITION_APPROVAL_LUA = `
local akey, feed = KEYS[1], KEYS[2]
local prefix, id, from, patch, status, now, retention, channel, feedlen =
  ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], tonumber(ARGV[6]), tonumber(ARGV[7]), ARGV[8], ARGV[9]
local current = redis.call('HGET', akey, 'status')
if not current then return nil end
local allowed = false
for s in string.gmatch(from, '[^,]+') do
  if s == current then allowed = true end
end
if not allowed then return nil end
local n = redis.call('HINCRBY', akey, 'n', 1)
redis.call('HSET', akey, 'status', status, 'p' .. n, patch)
local created = redis.call('HGET', akey, 'created')
local mkey = redis.call('HGET', akey, 'm')
redis.call('ZREM', prefix .. 'apr:st:' .. current, id)
redis.call('ZADD', prefix .. 'apr:st:' .. status, created, id)
local doc = redis.call('HGET', akey, 'doc')
local ttl = retention
if status ~= 'pending' then
  -- Only numbers are read from the document here; it is never written back.
  local d = cjson.decode(doc)
  if type(d.remember) == 'number' then ttl = math.max(ttl, d.remember * 1000 + retention) end
  if type(d.expires) == 'number' then ttl = math.max(ttl, d.expires - now + retention) end
else
  ttl = math.max(redis.call('PTTL', akey), retention)
end
ttl = math.floor(ttl)
redis.call('PEXPIRE', akey, ttl)
if redis.call('PTTL', mkey) < ttl then redis.call('PEXPIRE', mkey, ttl) end
local out = {doc}
for i = 1, n do out[#out + 1] = redis.call('HGET', akey, 'p' .. i) end
local sid = redis.call('XADD', feed, 'MAXLEN', '~', feedlen, '*', 'id', id)
local msg = {sid, id}
for _, part in ipairs(out) do msg[#msg + 1] = part end
redis.call('PUBLISH', channel, cjson.encode(msg))
return out
`;

/**
 * Stores a grant unless its name or its token hash is taken (revoked grants included).
 * KEYS[1] grants by name, KEYS[2] names by token hash, KEYS[3] revocation times by name
 * ARGV    name, tokenHash, doc, revoked ('' when not)
 */
export const CREATE_GRANT_LUA = `
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 or redis.call('HEXISTS', KEYS[2], ARGV[2]) == 1 then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('HSET', KEYS[2], ARGV[2], ARGV[1])
if ARGV[4] ~= '' then redis.call('HSET', KEYS[3], ARGV[1], ARGV[4]) end
return 1
`;

/** Marks a grant revoked. KEYS as for CREATE_GRANT_LUA; ARGV name, at. Returns 1 or 0. */
export const REVOKE_GRANT_LUA = `
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 or redis.call('HEXISTS', KEYS[3], ARGV[1]) == 1 then return 0 end
redis.call('HSET', KEYS[3], ARGV[1], ARGV[2])
return 1
`;

/** A grant by its token hash, with its revocation time: {doc, revoked|false} or nil. KEYS as above. */
export const GRANT_BY_HASH_LUA = `
local name = redis.call('HGET', KEYS[2], ARGV[1])
if not name then return nil end
local doc = redis.call('HGET', KEYS[1], name)
if not doc then return nil end
return {doc, redis.call('HGET', KEYS[3], name)}
`;
