#!lua flags=allow-oom
-- KEYS: the queue keys (scripts.KEY_PARTS).
-- ARGV: '1' to include delayed items. Items of expired leases count as ready.
-- include: _lib.lua
-- include: _counts.lua
local n = fresh + due + expired
if ARGV[1] == '1' then n = n + redis.call('ZCARD', KEYS[5]) - due end
return n
