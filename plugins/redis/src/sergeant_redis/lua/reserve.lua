-- KEYS: the queue keys (scripts.KEY_PARTS).
-- ARGV: count, lease seconds, token. Returns {items, {n, deliveries, ...}}
-- (deliveries listed only where not 1); the n-th item's receipt names token and n.
-- include: _lib.lua
return reserve(now(), tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3])
