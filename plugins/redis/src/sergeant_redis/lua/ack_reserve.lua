-- KEYS: the queue keys (scripts.KEY_PARTS).
-- ARGV: count, lease seconds, token, then as ack.lua. Acks, then reserves:
-- returns {acked, items, {n, deliveries, ...}}.
-- include: _lib.lua
local t = now()
local acked = each_batch(4, function(token, first, last)
  return ack_batch(t, token, ARGV, first, last)
end, function(token, count) return ack_whole(t, token, count) end)
local got = reserve(t, tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3])
return {acked, got[1], got[2]}
