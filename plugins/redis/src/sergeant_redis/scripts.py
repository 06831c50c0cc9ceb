"""The Lua scripts: every multi-step queue operation is one script call per node.

Every queue script receives the same eight keys (:data:`KEY_PARTS`, in order);
see :mod:`sergeant_redis.connector` for the layout. Time is the server's
(``redis.call('TIME')``): leases, delays and the "is it due" checks never depend
on client clocks. ``consumable_from`` arrives as the client's epoch seconds and
is compared against that server time.

An *entry* is an item that has a history: ``<P><deliveries>:<item>`` where
``P`` is ``H`` or ``N``. Fresh items are stored raw, without one.
"""

from __future__ import annotations

import hashlib

import attrs

__all__ = [
    "ACK",
    "DELETE",
    "EXTEND",
    "KEY_PARTS",
    "LENGTH",
    "LOCK_RELEASE",
    "LOCK_SET_TTL",
    "MAINTAIN",
    "POP",
    "PUSH_DELAYED",
    "RELEASE",
    "RESERVE",
    "STATS",
    "Script",
]

#: The per-queue keys, suffixes of ``sergeant:queue:<name>:``, in KEYS order.
KEY_PARTS = (
    "retry_high",  # 1: HIGH entries handed out before and put back (list)
    "high",  # 2: fresh HIGH items (list, raw bytes)
    "retry_normal",  # 3: NORMAL entries handed out before and put back (list)
    "normal",  # 4: fresh NORMAL items (list, raw bytes)
    "delayed",  # 5: zset, score = due time, member = 16 hex digits of seq .. entry
    "leases",  # 6: zset, score = lease expiry, member = lease id
    "leased",  # 7: hash, lease id -> entry
    "seq",  # 8: counter ordering delayed members that share a due time
)


@attrs.frozen
class Script:
    """A Lua script and its SHA1 (what EVALSHA sends)."""

    name: str
    source: str
    sha: str = attrs.field(init=False)

    @sha.default
    def _sha(self) -> str:
        return hashlib.sha1(self.source.encode(), usedforsecurity=False).hexdigest()


_COMMON = """
local function now()
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1000000
end

-- Commands with many arguments go in slices: Lua's unpack has a stack limit.
local function bulk(cmd, key, args, step)
  for i = 1, #args, step do
    redis.call(cmd, key, unpack(args, i, math.min(i + step - 1, #args)))
  end
end

local function split(entry)
  local colon = string.find(entry, ':', 2, true)
  return string.sub(entry, 1, 1), tonumber(string.sub(entry, 2, colon - 1)),
    string.sub(entry, colon + 1)
end

-- Back to a list: an item never handed out rejoins the fresh items (raw), one
-- with a history goes to its priority's retry list, which is served first.
local function requeue(entry)
  local p, d, item = split(entry)
  local high = p == 'H'
  if d == 0 then
    redis.call('RPUSH', high and KEYS[2] or KEYS[4], item)
  else
    redis.call('RPUSH', high and KEYS[1] or KEYS[3], entry)
  end
end

-- Move due delayed items to the lists and reclaim expired leases.
local function maintain(t, limit)
  local due = redis.call('ZRANGEBYSCORE', KEYS[5], '-inf', t, 'LIMIT', 0, limit)
  if #due > 0 then
    for i = 1, #due do requeue(string.sub(due[i], 17)) end
    redis.call('ZREM', KEYS[5], unpack(due))
  end
  local expired = redis.call('ZRANGEBYSCORE', KEYS[6], '-inf', t, 'LIMIT', 0, limit)
  if #expired > 0 then
    local entries = redis.call('HMGET', KEYS[7], unpack(expired))
    for i = 1, #expired do
      if entries[i] then requeue(entries[i]) end
    end
    redis.call('ZREM', KEYS[6], unpack(expired))
    redis.call('HDEL', KEYS[7], unpack(expired))
  end
end

local function maintain_if_needed(count)
  if redis.call('EXISTS', KEYS[5], KEYS[6]) > 0 then
    maintain(now(), math.min(math.max(count, 100), 4000))
  end
end

-- The lease ids among ids whose lease has not run out.
local function live(ids, t)
  local out = {}
  if #ids == 0 then return out end
  local scores = redis.call('ZMSCORE', KEYS[6], unpack(ids))
  for i = 1, #ids do
    if scores[i] and tonumber(scores[i]) > t then out[#out + 1] = ids[i] end
  end
  return out
end

local function forget(ids)
  if #ids > 0 then
    redis.call('ZREM', KEYS[6], unpack(ids))
    redis.call('HDEL', KEYS[7], unpack(ids))
  end
end
"""


def _script(name: str, body: str) -> Script:
    return Script(name, _COMMON + body)


# The pop scripts define the helpers only when there is something to maintain:
# the common case (no delayed items, no leases) then runs two commands.
_MAINTAIN_IF_NEEDED = (
    """
local count = tonumber(ARGV[1])
if redis.call('EXISTS', KEYS[5], KEYS[6]) > 0 then
"""
    + _COMMON
    + """
  maintain(now(), math.min(math.max(count, 100), 4000))
end
"""
)

#: ARGV: count. Moves due delayed items and expired leases back to the lists;
#: the bulk pop pipelines it with a native LMPOP (the items never cross into Lua).
MAINTAIN = Script("maintain", _MAINTAIN_IF_NEEDED + "return 0\n")

#: ARGV: count. Returns up to count items, HIGH before NORMAL, destructively.
#: LMPOP takes from the first non-empty list: retry_high, high, retry_normal, normal.
POP = Script(
    "pop",
    _MAINTAIN_IF_NEEDED
    + """
local out = {}
while #out < count do
  local got = redis.call('LMPOP', 4, KEYS[1], KEYS[2], KEYS[3], KEYS[4], 'LEFT',
    'COUNT', count - #out)
  if not got then break end
  local items = got[2]
  if got[1] == KEYS[1] or got[1] == KEYS[3] then
    for j = 1, #items do
      local entry = items[j]
      out[#out + 1] = string.sub(entry, string.find(entry, ':', 2, true) + 1)
    end
  elseif #out == 0 then
    out = items
  else
    for j = 1, #items do out[#out + 1] = items[j] end
  end
end
return out
""",
)

#: ARGV: count, lease seconds, token. Returns item1, deliveries1, item2, ...;
#: the n-th item's lease id is token .. n.
RESERVE = _script(
    "reserve",
    """
local count, token = tonumber(ARGV[1]), ARGV[3]
local t = now()
if redis.call('EXISTS', KEYS[5], KEYS[6]) > 0 then
  maintain(t, math.min(math.max(count, 100), 4000))
end
local expiry = t + tonumber(ARGV[2])
local out, entries, leases = {}, {}, {}
local n = 0
for i = 1, 4 do
  local need = count - n
  if need <= 0 then break end
  local got = redis.call('LPOP', KEYS[i], need)
  if got then
    local p = i <= 2 and 'H' or 'N'
    local history = i == 1 or i == 3
    for j = 1, #got do
      local item, d = got[j], 1
      if history then
        local _
        _, d, item = split(item)
        d = d + 1
      end
      n = n + 1
      local id = token .. n
      entries[#entries + 1] = id
      entries[#entries + 1] = p .. d .. ':' .. item
      leases[#leases + 1] = expiry
      leases[#leases + 1] = id
      out[#out + 1] = item
      out[#out + 1] = d
    end
  end
end
if n > 0 then
  bulk('HSET', KEYS[7], entries, 4000)
  bulk('ZADD', KEYS[6], leases, 4000)
end
return out
""",
)

#: ARGV: lease ids. Returns how many were live and are now gone for good.
ACK = _script(
    "ack",
    """
local ids = live(ARGV, now())
forget(ids)
return #ids
""",
)

#: ARGV: consumable_from ('' for now), lease ids. Returns how many were put back.
RELEASE = _script(
    "release",
    """
local t = now()
local due = tonumber(ARGV[1])
local ids = {}
for i = 2, #ARGV do ids[#ids + 1] = ARGV[i] end
ids = live(ids, t)
if #ids == 0 then return 0 end
local entries = redis.call('HMGET', KEYS[7], unpack(ids))
for i = 1, #ids do
  local entry = entries[i]
  if due and due > t then
    local seq = redis.call('INCR', KEYS[8])
    redis.call('ZADD', KEYS[5], due, string.format('%016x', seq) .. entry)
  else
    requeue(entry)
  end
end
forget(ids)
return #ids
""",
)

#: ARGV: lease seconds, lease ids. Returns how many leases were live and renewed.
EXTEND = _script(
    "extend",
    """
local t = now()
local ids = {}
for i = 2, #ARGV do ids[#ids + 1] = ARGV[i] end
ids = live(ids, t)
local expiry = t + tonumber(ARGV[1])
for i = 1, #ids do redis.call('ZADD', KEYS[6], 'XX', expiry, ids[i]) end
return #ids
""",
)

#: ARGV: consumable_from, 'H' or 'N', items. Due items go straight to the list.
PUSH_DELAYED = _script(
    "push_delayed",
    """
local due, p = tonumber(ARGV[1]), ARGV[2]
local items = {}
for i = 3, #ARGV do items[#items + 1] = ARGV[i] end
if due <= now() then
  bulk('RPUSH', p == 'H' and KEYS[2] or KEYS[4], items, 4000)
  return #items
end
local first = redis.call('INCRBY', KEYS[8], #items) - #items
local members = {}
for i = 1, #items do
  members[#members + 1] = due
  members[#members + 1] = string.format('%016x', first + i) .. p .. '0:' .. items[i]
end
bulk('ZADD', KEYS[5], members, 4000)
return #items
""",
)

_COUNTS = """
local t = now()
local fresh = redis.call('LLEN', KEYS[1]) + redis.call('LLEN', KEYS[2])
  + redis.call('LLEN', KEYS[3]) + redis.call('LLEN', KEYS[4])
local due = redis.call('ZCOUNT', KEYS[5], '-inf', t)
local expired = redis.call('ZCOUNT', KEYS[6], '-inf', t)
"""

#: ARGV: '1' to include delayed items. Expired leases count as ready.
LENGTH = _script(
    "length",
    _COUNTS
    + """
local n = fresh + due + expired
if ARGV[1] == '1' then n = n + redis.call('ZCARD', KEYS[5]) - due end
return n
""",
)

#: Returns ready, delayed, in flight.
STATS = _script(
    "stats",
    _COUNTS
    + """
return {fresh + due + expired, redis.call('ZCARD', KEYS[5]) - due,
  redis.call('ZCARD', KEYS[6]) - expired}
""",
)

#: Returns how many items the queue held (reserved ones included), after deleting it.
DELETE = _script(
    "delete",
    """
local n = redis.call('LLEN', KEYS[1]) + redis.call('LLEN', KEYS[2])
  + redis.call('LLEN', KEYS[3]) + redis.call('LLEN', KEYS[4])
  + redis.call('ZCARD', KEYS[5]) + redis.call('ZCARD', KEYS[6])
redis.call('DEL', unpack(KEYS))
return n
""",
)

#: KEYS: lock key. ARGV: owner token. Deletes only the owner's lock.
LOCK_RELEASE = Script(
    "lock_release",
    """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
""",
)

#: KEYS: lock key. ARGV: owner token, ttl seconds. Renews only the owner's lock.
LOCK_SET_TTL = Script(
    "lock_set_ttl",
    """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('EXPIRE', KEYS[1], ARGV[2])
end
return 0
""",
)
