#pragma once
// The Lua scripts behind RedisQueue (docs/adr/0007-redis-streams-queue.md). Each state change is
// one script, so Redis applies it atomically. ARGV[1] is the key prefix in every script; times
// are Unix milliseconds from the queue's Clock, passed as strings.
//
// Keys under the prefix:
//   stream         the ready messages (field `id`), read through the consumer group `workers`
//                  (NOACK; what has been read is trimmed off)
//   msg:<id>       hash: payload, enqueued_at, attempts, last_error, seq (enqueue order), state
//                  (ready | leased | delayed | dead), entry (its stream entry while ready; a
//                  claimed entry is trimmed off at once: the lease is `leases`),
//                  reason, dead_at
//   seq            the last enqueue sequence number; messages that come back to the stream
//                  together (due retries, expired leases) go in enqueue order
//   ready          zset id -> enqueued_at (ready count and oldest ready)
//   leases         zset id -> lease deadline
//   delayed        zset id -> not_before
//   dead           zset id -> death sequence number, i.e. the order they died
//   dead_seq       the last death sequence number

#include <string_view>

namespace msgbroker::queue::redis {

inline constexpr std::string_view kPrelude = R"lua(
local p = ARGV[1]
local stream = p .. 'stream'
local function mkey(id) return p .. 'msg:' .. id end
local function live(state) return state == 'ready' or state == 'leased' or state == 'delayed' end
local function to_ready(id, h, enqueued_at)
  local e = redis.call('XADD', stream, '*', 'id', id)
  redis.call('HSET', h, 'state', 'ready', 'entry', e)
  redis.call('ZADD', p .. 'ready', enqueued_at, id)
end
local function detach(id, h, state)
  if state == 'ready' then
    redis.call('XDEL', stream, redis.call('HGET', h, 'entry'))
    redis.call('HDEL', h, 'entry')
    redis.call('ZREM', p .. 'ready', id)
  elseif state == 'leased' then
    redis.call('ZREM', p .. 'leases', id)
  elseif state == 'delayed' then
    redis.call('ZREM', p .. 'delayed', id)
  end
end
-- One variadic command per slice of `list` (after the fixed arguments in `head`), so a large
-- batch stays within Lua's stack for unpack(). Slices are even-sized, so pairs stay together.
local function call_slices(cmd, head, list)
  for i = 1, #list, 4000 do
    local args = {unpack(head)}
    for k = i, math.min(i + 3999, #list) do args[#args + 1] = list[k] end
    redis.call(cmd, unpack(args))
  end
end
local function promote(now)
  local due = {}
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', p .. 'delayed', '-inf', now, 'LIMIT', 0, 1000)) do
    redis.call('ZREM', p .. 'delayed', id)
    due[#due + 1] = id
  end
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', p .. 'leases', '-inf', now, 'LIMIT', 0, 1000)) do
    detach(id, mkey(id), 'leased')
    due[#due + 1] = id
  end
  if #due == 0 then return end
  local seq = {}
  for _, id in ipairs(due) do seq[id] = tonumber(redis.call('HGET', mkey(id), 'seq')) end
  table.sort(due, function(a, b) return seq[a] < seq[b] end)
  for _, id in ipairs(due) do
    local h = mkey(id)
    to_ready(id, h, redis.call('HGET', h, 'enqueued_at'))
  end
end
)lua";

// ARGV: prefix, max_messages, then one or more groups: message count n, the group's enqueue time,
// then id, payload per message. Each group is one EnqueueAsync call, all or nothing: ids already in
// the queue are skipped, and a group that would exceed max_messages adds nothing. Returns per group
// the number added, or -1 when over max_messages. (Groups share one script run, and so one round of
// the script's fixed costs, when the writer pipelines many small calls.)
inline constexpr std::string_view kEnqueue = R"lua(
local max = tonumber(ARGV[2])
local count = redis.call('ZCARD', p .. 'ready') + redis.call('ZCARD', p .. 'delayed') +
              redis.call('ZCARD', p .. 'leases')
local seq = tonumber(redis.call('GET', p .. 'seq') or '0')
local results, ready, seen = {}, {}, {}
local i = 3
while i <= #ARGV do
  local n, now = tonumber(ARGV[i]), ARGV[i + 1]
  local first, last = i + 2, i + 1 + 2 * n
  local fresh = {}
  for j = first, last, 2 do
    local id = ARGV[j]
    if not seen[id] and redis.call('EXISTS', mkey(id)) == 0 then
      seen[id] = true
      fresh[#fresh + 1] = j
    end
  end
  if count + #fresh > max then
    for _, j in ipairs(fresh) do seen[ARGV[j]] = nil end
    results[#results + 1] = -1
  else
    for _, j in ipairs(fresh) do
      local id = ARGV[j]
      seq = seq + 1
      local e = redis.call('XADD', stream, '*', 'id', id)
      redis.call('HSET', mkey(id), 'payload', ARGV[j + 1], 'enqueued_at', now, 'attempts', 0,
                 'seq', seq, 'state', 'ready', 'entry', e)
      ready[#ready + 1] = now
      ready[#ready + 1] = id
    end
    count = count + #fresh
    results[#results + 1] = #fresh
  end
  i = last + 1
end
if #ready > 0 then
  redis.call('SET', p .. 'seq', seq)
  call_slices('ZADD', {p .. 'ready'}, ready)
end
return results
)lua";

// ARGV: prefix, now, max, lease deadline, consumer. Moves due retries and expired leases back to
// the stream, reads up to `max` new entries through the group and leases them. Returns
// {last stream id when nothing was claimed, then id, payload, attempts, enqueued_at, last_error
// per message}.
inline constexpr std::string_view kClaim = R"lua(
promote(ARGV[2])
local out = {''}
local max = tonumber(ARGV[3])
if max > 0 then
  local read = {'XREADGROUP', 'GROUP', 'workers', ARGV[5], 'COUNT', max, 'NOACK', 'STREAMS',
                stream, '>'}
  local r = redis.pcall(unpack(read))
  if type(r) == 'table' and r.err then
    if not string.find(r.err, 'NOGROUP', 1, true) then return r end
    redis.call('XGROUP', 'CREATE', stream, 'workers', '0', 'MKSTREAM')
    r = redis.call(unpack(read))
  end
  if r then
    -- Entries are read without the group's pending list (NOACK: the lease lives in `leases`), and
    -- everything up to the last one read is trimmed away at once: each is leased now or belongs
    -- to a message that moved on meanwhile. (One XTRIM drops whole stream nodes, far cheaper than
    -- an XDEL per entry.)
    local last, leased, leases = nil, {}, {}
    for _, entry in ipairs(r[1][2]) do
      local eid, id = entry[1], entry[2][2]
      last = eid
      local h = mkey(id)
      local f = redis.call('HMGET', h, 'entry', 'payload', 'enqueued_at', 'last_error', 'attempts')
      if f[1] == eid then
        local attempts = tonumber(f[5]) + 1
        redis.call('HSET', h, 'state', 'leased', 'attempts', attempts, 'entry', '')
        leased[#leased + 1] = id
        leases[#leases + 1] = ARGV[4]
        leases[#leases + 1] = id
        out[#out + 1] = id
        out[#out + 1] = f[2]
        out[#out + 1] = attempts
        out[#out + 1] = f[3]
        out[#out + 1] = f[4] or ''
      end
    end
    if last then
      local ms, seq = string.match(last, '^(%d+)-(%d+)$')
      redis.call('XTRIM', stream, 'MINID', ms .. '-' .. string.format('%d', tonumber(seq) + 1))
    end
    if #leased > 0 then
      call_slices('ZREM', {p .. 'ready'}, leased)
      call_slices('ZADD', {p .. 'leases'}, leases)
    end
  end
  if #out == 1 then
    local info = redis.call('XINFO', 'STREAM', stream)
    for i = 1, #info, 2 do
      if info[i] == 'last-generated-id' then out[1] = info[i + 1] end
    end
  end
end
return out
)lua";

// ARGV: prefix, ids. Removes live messages for good.
inline constexpr std::string_view kAck = R"lua(
local leased, gone = {}, {}
for i = 2, #ARGV do
  local id = ARGV[i]
  local h = mkey(id)
  local state = redis.call('HGET', h, 'state')
  if state == 'leased' then
    leased[#leased + 1] = id
    gone[#gone + 1] = h
  elseif live(state) then
    detach(id, h, state)
    gone[#gone + 1] = h
  end
end
if #leased > 0 then call_slices('ZREM', {p .. 'leases'}, leased) end
if #gone > 0 then call_slices('DEL', {}, gone) end
return 0
)lua";

// ARGV: prefix, then id, not_before, error, refund ("1": give the attempt back) per message.
inline constexpr std::string_view kRetry = R"lua(
for i = 2, #ARGV, 4 do
  local id = ARGV[i]
  local h = mkey(id)
  local state = redis.call('HGET', h, 'state')
  if live(state) then
    detach(id, h, state)
    redis.call('HSET', h, 'state', 'delayed', 'last_error', ARGV[i + 2])
    if ARGV[i + 3] == '1' and tonumber(redis.call('HGET', h, 'attempts') or '0') > 0 then
      redis.call('HINCRBY', h, 'attempts', -1)
    end
    redis.call('ZADD', p .. 'delayed', ARGV[i + 1], id)
  end
end
return 0
)lua";

// ARGV: prefix, now, then id, reason per message.
inline constexpr std::string_view kDeadLetter = R"lua(
for i = 3, #ARGV, 2 do
  local id = ARGV[i]
  local h = mkey(id)
  local state = redis.call('HGET', h, 'state')
  if live(state) then
    detach(id, h, state)
    redis.call('HSET', h, 'state', 'dead', 'reason', ARGV[i + 1], 'dead_at', ARGV[2])
    redis.call('ZADD', p .. 'dead', redis.call('INCR', p .. 'dead_seq'), id)
  end
end
return 0
)lua";

// ARGV: prefix, id. Returns 1, or 0 when the id is not a dead letter.
inline constexpr std::string_view kReplay = R"lua(
local id = ARGV[2]
local h = mkey(id)
if redis.call('HGET', h, 'state') ~= 'dead' then return 0 end
redis.call('ZREM', p .. 'dead', id)
redis.call('HDEL', h, 'reason', 'dead_at', 'last_error')
redis.call('HSET', h, 'attempts', 0)
to_ready(id, h, redis.call('HGET', h, 'enqueued_at'))
return 1
)lua";

// ARGV: prefix, id. Returns 1, or 0 when the id is not a dead letter.
inline constexpr std::string_view kDiscard = R"lua(
local id = ARGV[2]
local h = mkey(id)
if redis.call('HGET', h, 'state') ~= 'dead' then return 0 end
redis.call('ZREM', p .. 'dead', id)
redis.call('DEL', h)
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
// none).
inline constexpr std::string_view kStats = R"lua(
promote(ARGV[2])
local oldest = redis.call('ZRANGE', p .. 'ready', 0, 0, 'WITHSCORES')
return {redis.call('ZCARD', p .. 'ready'), redis.call('ZCARD', p .. 'delayed'),
        redis.call('ZCARD', p .. 'leases'), redis.call('ZCARD', p .. 'dead'), oldest[2] or ''}
)lua";

}  // namespace msgbroker::queue::redis
