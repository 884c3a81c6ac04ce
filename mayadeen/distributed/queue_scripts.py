"""The Lua scripts of the crawl's leased queue (``mayadeen.distributed.queue`` says what each key holds
and which states a request goes through). Each runs atomically in Redis; ``KEYS``/``ARGV`` are named above
each one, in the order ``LeasedQueue`` passes them."""

from mayadeen.distributed.budget import BUDGET_LUA
from mayadeen.distributed.lua import PRELUDE

_RUNNING = """
local function running(state, epoch)
  return redis.call('HGET', state, 'epoch') == epoch and redis.call('HGET', state, 'status') == 'running'
end
local function ack(leases, owner, data, prio, id, worker)
  if redis.call('HGET', owner, id) ~= worker then return 0 end
  redis.call('ZREM', leases, id)
  redis.call('HDEL', owner, id)
  redis.call('HDEL', data, id)
  redis.call('HDEL', prio, id)
  return 1
end
"""

# KEYS: state queue data prio delayed leases owner slots next paused dupefilter seq replies expiries given_up
# ARGV: epoch worker lease_ttl delay concurrency slot_ttl slot_prefix nonce max_expiries (0: no limit)
#       held (leases this worker holds)
# Every reply ends with the data of the requests this take gave up (usually none); a grant's has whether
# it is to be fetched alone before it.
TAKE = (
    PRELUDE
    + BUDGET_LUA
    + _RUNNING
    + """
local t = now()
local given = {}
local function answer(reply)
  local data = {}
  for _, id in ipairs(given) do data[#data + 1] = redis.call('HGET', KEYS[3], id) end
  reply[#reply + 1] = data
  return reply
end
local function remember(id, slot)
  redis.call('HSET', KEYS[13], ARGV[2], cjson.encode({ARGV[8], id, slot, given}))
end
local function granted(id, slot)
  return answer({'granted', id, redis.call('HGET', KEYS[3], id), slot, redis.call('HEXISTS', KEYS[14], id)})
end
-- Run again (same nonce; its answer was lost): what it gave up, and below its grant while still held.
local last = redis.call('HGET', KEYS[13], ARGV[2])
last = last and cjson.decode(last)
if last and last[1] == ARGV[8] then
  for _, id in ipairs(last[4] or {}) do given[#given + 1] = id end
else
  last = nil
end
if not running(KEYS[1], ARGV[1]) then return answer({'ended'}) end
local most = tonumber(ARGV[9])
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[6], '-inf', fmt(t))) do
  redis.call('ZREM', KEYS[6], id)
  redis.call('HDEL', KEYS[7], id)
  redis.call('HINCRBY', KEYS[1], 'expired', 1)
  local expiries = redis.call('HINCRBY', KEYS[14], id, 1)
  if most > 0 and expiries >= most then
    redis.call('ZADD', KEYS[15], fmt(t), id)
    given[#given + 1] = id
  else
    redis.call('ZADD', KEYS[2], redis.call('HGET', KEYS[4], id), id)
  end
end
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[5], '-inf', fmt(t))) do
  redis.call('ZREM', KEYS[5], id)
  redis.call('ZADD', KEYS[2], redis.call('HGET', KEYS[4], id), id)
end
if last and last[2] ~= '' and redis.call('HGET', KEYS[7], last[2]) == ARGV[2] then  -- not expired above
  remember(last[2], last[3])  -- with what this run gave up too, should its answer be lost again
  return granted(last[2], last[3])
end
if #given > 0 then remember('', '') end
local candidates = redis.call('ZRANGE', KEYS[2], 0, 127)
if #candidates == 0 then
  if redis.call('HGET', KEYS[1], 'seeded') == '1' and redis.call('ZCARD', KEYS[6]) == 0
     and redis.call('ZCARD', KEYS[5]) == 0 then
    redis.call('HSET', KEYS[1], 'status', 'ended', 'ended_at', fmt(t), 'seen', redis.call('SCARD', KEYS[11]))
    redis.call('DEL', KEYS[11], KEYS[12], KEYS[14])  -- replies stay: the last answers, should one be lost
    return answer({'ended'})
  end
  local soonest = redis.call('ZRANGE', KEYS[5], 0, 0, 'WITHSCORES')
  if #soonest > 0 then return answer({'wait', fmt(tonumber(soonest[2]) - t)}) end
  return answer({'empty'})
end
-- A request whose lease expired before goes to a worker holding nothing else, which takes nothing more
-- until it is done: when it kills that worker too, nothing beside it is counted with it. A worker holding
-- leases takes the first other request among the first 128 queued (after a mass expiry, more wait).
local id = nil
for _, candidate in ipairs(candidates) do
  if tonumber(ARGV[10]) == 0 or redis.call('HEXISTS', KEYS[14], candidate) == 0 then
    id = candidate
    break
  end
end
if not id then return answer({'wait', fmt(-1)}) end
local slot = ARGV[7] .. id
local wait = budget_grant(t, KEYS[8], KEYS[9], KEYS[10], tonumber(ARGV[4]), tonumber(ARGV[5]), slot,
                          tonumber(ARGV[6]))
if wait ~= 0 then return answer({'wait', fmt(wait)}) end
redis.call('ZREM', KEYS[2], id)
redis.call('ZADD', KEYS[6], fmt(t + tonumber(ARGV[3])), id)
redis.call('HSET', KEYS[7], id, ARGV[2])
remember(id, slot)
return granted(id, slot)
"""
)

# KEYS: state queue data prio delayed dupefilter seq leases owner replies expiries
# ARGV: epoch fingerprint ('' = unfiltered) data score delay replaces ('' = none) worker nonce
PUSH = (
    PRELUDE
    + _RUNNING
    + """
if not running(KEYS[1], ARGV[1]) then return 'ended' end
local last = redis.call('HGET', KEYS[10], ARGV[7])
if last then
  last = cjson.decode(last)
  if last[1] == ARGV[8] then return last[2] end
end
local result, id = 'filtered', nil
if ARGV[2] == '' or redis.call('SADD', KEYS[6], ARGV[2]) == 1 then
  id = string.format('%012d', redis.call('INCR', KEYS[7]))
  redis.call('HSET', KEYS[3], id, ARGV[3])
  redis.call('HSET', KEYS[4], id, ARGV[4])
  local delay = tonumber(ARGV[5])
  if delay > 0 then
    redis.call('ZADD', KEYS[5], fmt(now() + delay), id)
  else
    redis.call('ZADD', KEYS[2], ARGV[4], id)
  end
  result = 'queued'
end
if ARGV[6] ~= '' then
  -- A retry or redirect keeps what its request's leases went through: fetched alone, given up in time.
  local expiries = redis.call('HGET', KEYS[11], ARGV[6])
  if expiries and id then redis.call('HSET', KEYS[11], id, expiries) end
  ack(KEYS[8], KEYS[9], KEYS[3], KEYS[4], ARGV[6], ARGV[7])
end
redis.call('HSET', KEYS[10], ARGV[7], cjson.encode({ARGV[8], result}))
return result
"""
)

# KEYS: leases owner data prio. ARGV: worker id...  Again: acknowledges nothing more (counts 0).
ACK = (
    PRELUDE
    + _RUNNING
    + """
local n = 0
for i = 2, #ARGV do n = n + ack(KEYS[1], KEYS[2], KEYS[3], KEYS[4], ARGV[i], ARGV[1]) end
return n
"""
)

# KEYS: leases owner. ARGV: worker ttl id...  Renews this worker's leases (an expired one is not revived).
RENEW = (
    PRELUDE
    + """
local expiry = fmt(now() + tonumber(ARGV[2]))
for i = 3, #ARGV do
  if redis.call('HGET', KEYS[2], ARGV[i]) == ARGV[1] then redis.call('ZADD', KEYS[1], 'XX', expiry, ARGV[i]) end
end
return 0
"""
)

# KEYS: queue prio leases owner. ARGV: worker id...  Puts this worker's leased requests back in the queue
# (again: releases nothing more, counts 0).
RELEASE = """
local n = 0
for i = 2, #ARGV do
  local id = ARGV[i]
  if redis.call('HGET', KEYS[4], id) == ARGV[1] then
    redis.call('ZREM', KEYS[3], id)
    redis.call('HDEL', KEYS[4], id)
    redis.call('ZADD', KEYS[1], redis.call('HGET', KEYS[2], id), id)
    n = n + 1
  end
end
return n
"""
