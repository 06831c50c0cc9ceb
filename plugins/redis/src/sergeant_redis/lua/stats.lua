#!lua flags=allow-oom
-- KEYS: the queue keys (scripts.KEY_PARTS).
-- No ARGV. Returns ready, delayed, in flight (items, not leases).
-- include: _lib.lua
-- include: _counts.lua
local in_flight = items_in(string.format('(%.17g', t), '+inf')
return {fresh + due + expired, redis.call('ZCARD', KEYS[5]) - due, in_flight}
