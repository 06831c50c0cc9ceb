-- Fragment (after _lib.lua) for length.lua and stats.lua: t, fresh, due,
-- items_in(min, max) and expired.
local t = now()
local fresh = redis.call('LLEN', KEYS[1]) + redis.call('LLEN', KEYS[2])
  + redis.call('LLEN', KEYS[3]) + redis.call('LLEN', KEYS[4])
local due = redis.call('ZCOUNT', KEYS[5], '-inf', t)
local function items_in(min, max)
  local n = 0
  for _, group in ipairs(redis.call('ZRANGEBYSCORE', KEYS[6], min, max)) do
    n = n + glen(group)
  end
  return n
end
local expired = items_in('-inf', t)
