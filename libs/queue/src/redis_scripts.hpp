#pragma once
// The Lua scripts behind RedisQueue (docs/adr/0007-redis-streams-queue.md). Each state change is
// one script, so Redis applies it atomically. ARGV[1] is the key prefix in every script; times
// are Unix milliseconds from the queue's Clock, passed as strings.
//
// Keys under the prefix:
//   stream    one entry per ready or leased message, holding the message itself: `i` id, `p`
//             payload, `t` enqueued_at, and when not 0/empty/its own entry id: `a` the claims so
//             far, `e` the last error, `o` the entry id of its first enqueue (its place in the
//             order). Entries after the group's last-delivered id are ready; read ones (NOACK,
//             no pending list) are leased until acknowledged, retried or dead-lettered, when the
//             entry is deleted.
//   ids       hash id -> the message's stream entry id while ready or leased, `delayed` or `dead`
//   leases    zset id -> lease deadline
//   delayed   zset id -> not_before
//   dead      zset id -> death sequence number, i.e. the order they died
//   msg:<id>  hash, only for delayed and dead messages: payload, enqueued_at, attempts,
//             last_error, order, and for dead ones reason and dead_at
//   dead_seq  the last death sequence number
// So a message that is enqueued, claimed and acknowledged costs one XADD, its share of one
// XREADGROUP and one XDEL, and a member in each of a few variadic hash and zset calls.

#include <string_view>

namespace msgbroker::queue::redis {

inline constexpr std::string_view kPrelude = R"lua(
local p = ARGV[1]
local stream, ids = p .. 'stream', p .. 'ids'
local function mkey(id) return p .. 'msg:' .. id end
-- One variadic command per slice of `list` (after the fixed arguments in `head`), so a large
-- batch stays within Lua's stack for unpack(); the replies of the slices are concatenated.
-- Slices are even-sized, so pairs stay together.
local function call_slices(cmd, head, list)
  local total = #list
  if total == 0 then return {} end
  if total <= 4000 and #head == 1 then return redis.call(cmd, head[1], unpack(list)) end
  local out, n = {}, 0
  for i = 1, total, 4000 do
    local args = {unpack(head)}
    local a = #args
    for k = i, math.min(i + 3999, total) do
      a = a + 1
      args[a] = list[k]
    end
    local r = redis.call(cmd, unpack(args))
    if type(r) == 'table' then
      for _, v in ipairs(r) do
        n = n + 1
        out[n] = v
      end
    end
  end
  return out
end
-- The fields of a stream entry as a table.
local function fields(kv)
  local f = {}
  for i = 1, #kv, 2 do f[kv[i]] = kv[i + 1] end
  return f
end
-- The message whose entry is `eid`, with the attempts it has used so far (a leased entry's claim
-- counts), taken off the stream and out of `leases`.
local function take_entry(id, eid)
  local f = fields(redis.call('XRANGE', stream, eid, eid)[1][2])
  local attempts = tonumber(f.a or '0')
  if redis.call('ZREM', p .. 'leases', id) == 1 then attempts = attempts + 1 end
  redis.call('XDEL', stream, eid)
  return {payload = f.p, enqueued_at = f.t, attempts = attempts, last_error = f.e or '',
          order = f.o or eid}
end
-- Puts a message (as take_entry returns it) on the stream as ready; returns the new entry's id.
local function add_entry(id, m)
  local args = {'XADD', stream, '*', 'i', id, 'p', m.payload, 't', m.enqueued_at, 'o', m.order}
  if tonumber(m.attempts) > 0 then args[#args + 1] = 'a'; args[#args + 1] = m.attempts end
  if m.last_error ~= '' then args[#args + 1] = 'e'; args[#args + 1] = m.last_error end
  return redis.call(unpack(args))
end
-- The message kept in msg:<id> (delayed or dead), deleted from there.
local function take_hash(id)
  local h = mkey(id)
  local f = redis.call('HMGET', h, 'payload', 'enqueued_at', 'attempts', 'last_error', 'order')
  redis.call('DEL', h)
  return {payload = f[1], enqueued_at = f[2], attempts = tonumber(f[3] or '0'),
          last_error = f[4] or '', order = f[5]}
end
local function store_hash(id, m)
  redis.call('HSET', mkey(id), 'payload', m.payload, 'enqueued_at', m.enqueued_at, 'attempts',
             m.attempts, 'last_error', m.last_error, 'order', m.order)
end
local function entry_before(a, b)
  local am, as = string.match(a, '^(%d+)-(%d+)$')
  local bm, bs = string.match(b, '^(%d+)-(%d+)$')
  am, bm = tonumber(am), tonumber(bm)
  if am ~= bm then return am < bm end
  return tonumber(as) < tonumber(bs)
end
-- Due retries (`delayed` score <= now) and expired leases (`leases` score <= now) go back to the
-- stream as new entries, in the order of their first enqueue, at most 1000 of each per call.
local function promote(now)
  local due = {}
  local delayed = redis.call('ZRANGEBYSCORE', p .. 'delayed', '-inf', now, 'LIMIT', 0, 1000)
  if #delayed > 0 then
    call_slices('ZREM', {p .. 'delayed'}, delayed)
    for _, id in ipairs(delayed) do due[#due + 1] = {id = id, m = take_hash(id)} end
  end
  local expired = redis.call('ZRANGEBYSCORE', p .. 'leases', '-inf', now, 'LIMIT', 0, 1000)
  for _, id in ipairs(expired) do
    due[#due + 1] = {id = id, m = take_entry(id, redis.call('HGET', ids, id))}
  end
  if #due == 0 then return end
  table.sort(due, function(x, y) return entry_before(x.m.order, y.m.order) end)
  local entries = {}
  for _, d in ipairs(due) do
    entries[#entries + 1] = d.id
    entries[#entries + 1] = add_entry(d.id, d.m)
  end
  call_slices('HSET', {ids}, entries)
end
-- For each id: its `ids` value (false when unknown) and whether it is leased.
local function states(list)
  return call_slices('HMGET', {ids}, list), call_slices('ZMSCORE', {p .. 'leases'}, list)
end
)lua";

// ARGV: prefix, max_messages, then one or more groups: message count n, the group's enqueue time,
// then id, payload per message. Each group is one EnqueueAsync call, all or nothing: ids already in
// the queue are skipped, and a group that would exceed max_messages adds nothing. Returns per group
// the number added, or -1 when over max_messages. (Groups share one script run, and so one round of
// the script's fixed costs, when the writer pipelines many small calls.)
inline constexpr std::string_view kEnqueue = R"lua(
local max = tonumber(ARGV[2])
local count = redis.call('XLEN', stream) + redis.call('ZCARD', p .. 'delayed')
local argc = #ARGV
local all, m = {}, 0
local i = 3
while i <= argc do
  local n = tonumber(ARGV[i])
  for j = i + 2, i + 1 + 2 * n, 2 do
    m = m + 1
    all[m] = ARGV[j]
  end
  i = i + 2 + 2 * n
end
local known = call_slices('HMGET', {ids}, all)
local results, entries, seen = {}, {}, {}
local k, groups, e = 0, 0, 0
i = 3
while i <= argc do
  local n, now = tonumber(ARGV[i]), ARGV[i + 1]
  local first, last = i + 2, i + 1 + 2 * n
  local fresh, f = {}, 0
  for j = first, last, 2 do
    k = k + 1
    local id = ARGV[j]
    if not known[k] and not seen[id] then
      seen[id] = true
      f = f + 1
      fresh[f] = j
    end
  end
  groups = groups + 1
  if count + f > max then
    for x = 1, f do seen[ARGV[fresh[x]]] = nil end
    results[groups] = -1
  else
    for x = 1, f do
      local j = fresh[x]
      entries[e + 1] = ARGV[j]
      entries[e + 2] = redis.call('XADD', stream, '*', 'i', ARGV[j], 'p', ARGV[j + 1], 't', now)
      e = e + 2
    end
    count = count + f
    results[groups] = f
  end
  i = last + 1
end
if e > 0 then call_slices('HSET', {ids}, entries) end
return results
)lua";

// ARGV: prefix, now, max, lease deadline, consumer. Moves due retries and expired leases back to
// the stream, reads up to `max` new entries through the group and leases them. Returns {the last
// stream id when nothing was claimed (else ''), the entries as XREADGROUP gave them}: the caller
// reads the fields (`i` first, as every XADD here writes it), so the payloads pass through Lua
// without being copied into tables of its own.
inline constexpr std::string_view kClaim = R"lua(
promote(ARGV[2])
local max = tonumber(ARGV[3])
if max == 0 then return {'', {}} end
local read = {'XREADGROUP', 'GROUP', 'workers', ARGV[5], 'COUNT', max, 'NOACK', 'STREAMS',
              stream, '>'}
local r = redis.pcall(unpack(read))
if type(r) == 'table' and r.err then
  if not string.find(r.err, 'NOGROUP', 1, true) then return r end
  redis.call('XGROUP', 'CREATE', stream, 'workers', '0', 'MKSTREAM')
  r = redis.call(unpack(read))
end
-- NOACK: the group keeps no pending list; the lease is `leases`, and the entry stays on the
-- stream (holding the message) until the lease ends.
local entries = r and r[1][2] or {}
if #entries > 0 then
  local leases, n = {}, 0
  for _, entry in ipairs(entries) do
    leases[n + 1] = ARGV[4]
    leases[n + 2] = entry[2][2]
    n = n + 2
  end
  call_slices('ZADD', {p .. 'leases'}, leases)
  return {'', entries}
end
local info = redis.call('XINFO', 'STREAM', stream)
for i = 1, #info, 2 do
  if info[i] == 'last-generated-id' then return {info[i + 1], {}} end
end
return {'', {}}
)lua";

// ARGV: prefix, ids. Removes live messages for good.
inline constexpr std::string_view kAck = R"lua(
local list = {}
for i = 2, #ARGV do list[#list + 1] = ARGV[i] end
local known, leased = states(list)
local entries, ended, gone = {}, {}, {}
for k, id in ipairs(list) do
  local v = known[k]
  if v == 'delayed' then
    redis.call('ZREM', p .. 'delayed', id)
    redis.call('DEL', mkey(id))
    gone[#gone + 1] = id
  elseif v and v ~= 'dead' then
    entries[#entries + 1] = v
    if leased[k] then ended[#ended + 1] = id end
    gone[#gone + 1] = id
  end
end
if #entries > 0 then call_slices('XDEL', {stream}, entries) end
if #ended > 0 then call_slices('ZREM', {p .. 'leases'}, ended) end
if #gone > 0 then call_slices('HDEL', {ids}, gone) end
return 0
)lua";

// ARGV: prefix, then id, not_before, error, refund ("1": give the attempt back) per message.
inline constexpr std::string_view kRetry = R"lua(
for i = 2, #ARGV, 4 do
  local id = ARGV[i]
  local v = redis.call('HGET', ids, id)
  if v and v ~= 'dead' then
    local m
    if v == 'delayed' then
      m = take_hash(id)
    else
      m = take_entry(id, v)
      redis.call('HSET', ids, id, 'delayed')
    end
    m.last_error = ARGV[i + 2]
    if ARGV[i + 3] == '1' and m.attempts > 0 then m.attempts = m.attempts - 1 end
    store_hash(id, m)
    redis.call('ZADD', p .. 'delayed', ARGV[i + 1], id)
  end
end
return 0
)lua";

// ARGV: prefix, now, then id, reason per message.
inline constexpr std::string_view kDeadLetter = R"lua(
for i = 3, #ARGV, 2 do
  local id = ARGV[i]
  local v = redis.call('HGET', ids, id)
  if v and v ~= 'dead' then
    local m
    if v == 'delayed' then
      redis.call('ZREM', p .. 'delayed', id)
      m = take_hash(id)
    else
      m = take_entry(id, v)
    end
    redis.call('HSET', ids, id, 'dead')
    store_hash(id, m)
    redis.call('HSET', mkey(id), 'reason', ARGV[i + 1], 'dead_at', ARGV[2])
    redis.call('ZADD', p .. 'dead', redis.call('INCR', p .. 'dead_seq'), id)
  end
end
return 0
)lua";

// ARGV: prefix, id. Returns 1, or 0 when the id is not a dead letter.
inline constexpr std::string_view kReplay = R"lua(
local id = ARGV[2]
if redis.call('HGET', ids, id) ~= 'dead' then return 0 end
redis.call('ZREM', p .. 'dead', id)
local m = take_hash(id)
m.attempts, m.last_error = 0, ''
redis.call('HSET', ids, id, add_entry(id, m))
return 1
)lua";

// ARGV: prefix, id. Returns 1, or 0 when the id is not a dead letter.
inline constexpr std::string_view kDiscard = R"lua(
local id = ARGV[2]
if redis.call('HGET', ids, id) ~= 'dead' then return 0 end
redis.call('ZREM', p .. 'dead', id)
redis.call('DEL', mkey(id))
redis.call('HDEL', ids, id)
return 1
)lua";

// ARGV: prefix, first rank, last rank. Returns id, payload, reason, attempts, enqueued_at,
// dead_at per dead letter, oldest death first.
inline constexpr std::string_view kListDead = R"lua(
local out = {}
for _, id in ipairs(redis.call('ZRANGE', p .. 'dead', ARGV[2], ARGV[3])) do
  local f = redis.call('HMGET', mkey(id), 'payload', 'reason', 'attempts', 'enqueued_at', 'dead_at')
  out[#out + 1] = id
  for j = 1, 5 do out[#out + 1] = f[j] or '' end
end
return out
)lua";

// ARGV: prefix, now. Returns ready, delayed, in flight, dead, oldest ready enqueued_at ('' if
// none). The stream holds the ready and the leased messages; the first ready one is the first
// entry after the group's last-delivered id.
inline constexpr std::string_view kStats = R"lua(
promote(ARGV[2])
local leased = redis.call('ZCARD', p .. 'leases')
local ready = redis.call('XLEN', stream) - leased
local oldest = ''
if ready > 0 then
  local from = '-'
  local groups = redis.pcall('XINFO', 'GROUPS', stream)
  if type(groups) == 'table' and not groups.err then
    for _, g in ipairs(groups) do
      local f = fields(g)
      if f.name == 'workers' then from = '(' .. f['last-delivered-id'] end
    end
  end
  local first = redis.call('XRANGE', stream, from, '+', 'COUNT', 1)[1]
  if first then oldest = fields(first[2]).t end
end
return {ready, redis.call('ZCARD', p .. 'delayed'), leased, redis.call('ZCARD', p .. 'dead'),
        oldest}
)lua";

}  // namespace msgbroker::queue::redis
