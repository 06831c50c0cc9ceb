-- KEYS: the queue keys (scripts.KEY_PARTS).
-- ARGV: the delay in seconds (consumable_from less the pusher's clock), 'H' or
-- 'N', items. Due items go straight to the list.
-- include: _now.lua
-- include: _due.lua
local t, p = now(), ARGV[2]
local due = t + tonumber(ARGV[1])
local n = #ARGV - 2
if due <= t then
  local key = p == 'H' and KEYS[2] or KEYS[4]
  for i = 3, #ARGV, 4000 do
    redis.call('RPUSH', key, unpack(ARGV, i, math.min(i + 3999, #ARGV)))
  end
  return n
end
due_by(due)
local first = redis.call('INCRBY', KEYS[8], n) - n
local members = {}
for i = 1, n do
  members[2 * i - 1] = due
  members[2 * i] = string.format('%016x', first + i) .. p .. '0:' .. ARGV[i + 2]
end
for i = 1, #members, 4000 do
  redis.call('ZADD', KEYS[5], unpack(members, i, math.min(i + 3999, #members)))
end
return n
