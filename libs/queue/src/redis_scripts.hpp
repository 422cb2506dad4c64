#pragma once
// The Lua scripts behind RedisQueue (docs/adr/0007-redis-streams-queue.md). Each state change is
// one script, so Redis applies it atomically. ARGV[1] is the key prefix in every script; times
// are Unix milliseconds from the queue's Clock, passed as strings.
//
// Keys under the prefix:
//   stream         the ready and leased messages (field `id`), consumer group `workers`
//   msg:<id>       hash: payload, enqueued_at, attempts, last_error, seq (enqueue order), state
//                  (ready | leased | delayed | dead), entry (its stream entry while ready or
//                  leased), reason, dead_at
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
  if state == 'ready' or state == 'leased' then
    local e = redis.call('HGET', h, 'entry')
    if state == 'leased' then
      redis.call('XACK', stream, 'workers', e)
      redis.call('ZREM', p .. 'leases', id)
    else
      redis.call('ZREM', p .. 'ready', id)
    end
    redis.call('XDEL', stream, e)
    redis.call('HDEL', h, 'entry')
  elseif state == 'delayed' then
    redis.call('ZREM', p .. 'delayed', id)
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

// ARGV: prefix, now, max_messages, then id, payload per message. Ids already in the queue are
// skipped. Returns the number added, or -1 (nothing added) when over max_messages.
inline constexpr std::string_view kEnqueue = R"lua(
local now = ARGV[2]
local fresh, seen = {}, {}
for i = 4, #ARGV, 2 do
  local id = ARGV[i]
  if not seen[id] and redis.call('EXISTS', mkey(id)) == 0 then
    seen[id] = true
    fresh[#fresh + 1] = i
  end
end
if #fresh == 0 then return 0 end
local count = redis.call('ZCARD', p .. 'ready') + redis.call('ZCARD', p .. 'delayed') +
              redis.call('ZCARD', p .. 'leases')
if count + #fresh > tonumber(ARGV[3]) then return -1 end
local seq = redis.call('INCRBY', p .. 'seq', #fresh) - #fresh
for k, i in ipairs(fresh) do
  local id = ARGV[i]
  local h = mkey(id)
  redis.call('HSET', h, 'payload', ARGV[i + 1], 'enqueued_at', now, 'attempts', 0, 'seq', seq + k)
  to_ready(id, h, now)
end
return #fresh
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
  local read = {'XREADGROUP', 'GROUP', 'workers', ARGV[5], 'COUNT', max, 'STREAMS', stream, '>'}
  local r = redis.pcall(unpack(read))
  if type(r) == 'table' and r.err then
    if not string.find(r.err, 'NOGROUP', 1, true) then return r end
    redis.call('XGROUP', 'CREATE', stream, 'workers', '0', 'MKSTREAM')
    r = redis.call(unpack(read))
  end
  if r then
    for _, entry in ipairs(r[1][2]) do
      local eid, id = entry[1], entry[2][2]
      local h = mkey(id)
      local f = redis.call('HMGET', h, 'entry', 'payload', 'enqueued_at', 'last_error')
      if f[1] == eid then
        local attempts = redis.call('HINCRBY', h, 'attempts', 1)
        redis.call('HSET', h, 'state', 'leased')
        redis.call('ZREM', p .. 'ready', id)
        redis.call('ZADD', p .. 'leases', ARGV[4], id)
        out[#out + 1] = id
        out[#out + 1] = f[2]
        out[#out + 1] = attempts
        out[#out + 1] = f[3]
        out[#out + 1] = f[4] or ''
      else
        redis.call('XACK', stream, 'workers', eid)
        redis.call('XDEL', stream, eid)
      end
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
for i = 2, #ARGV do
  local id = ARGV[i]
  local h = mkey(id)
  local state = redis.call('HGET', h, 'state')
  if live(state) then
    detach(id, h, state)
    redis.call('DEL', h)
  end
end
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
