#!lua flags=allow-oom
-- KEYS: the queue keys (scripts.KEY_PARTS).
-- ARGV: count, lease seconds, token, copy (as reserve.lua), then as ack.lua.
-- Acks, then reserves: returns {acked, items, {n, deliveries, ...}, copied}.
-- include: _lib.lua
local t = now()
local acked = each_batch(5, function(token, first, last)
  return ack_batch(t, token, ARGV, first, last)
end, function(token, count) return ack_whole(t, token, count) end)
local got = reserve(t, tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3], ARGV[4] == '1')
return {acked, got[1], got[2], got[3]}
