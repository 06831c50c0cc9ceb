#!lua flags=allow-oom
-- KEYS: the queue keys (scripts.KEY_PARTS).
-- No ARGV. Returns how many items the queue held (reserved ones included),
-- after deleting every key of the queue.
-- include: _lib.lua
local n = redis.call('LLEN', KEYS[1]) + redis.call('LLEN', KEYS[2])
  + redis.call('LLEN', KEYS[3]) + redis.call('LLEN', KEYS[4])
  + redis.call('ZCARD', KEYS[5])
for _, group in ipairs(redis.call('ZRANGE', KEYS[6], 0, -1)) do
  n = n + glen(group)
  gdel(group)
end
redis.call('DEL', unpack(KEYS))
return n
