#!lua flags=allow-oom
-- KEYS: the queue keys (scripts.KEY_PARTS).
-- ARGV: count, lease seconds, token, copy ('1': fresh items may be copied by
-- SORT .. STORE and left for the caller's LRANGE). Returns {items, {n,
-- deliveries, ...}, copied} (deliveries listed only where not 1); the n-th
-- item's receipt names token and n.
-- include: _lib.lua
return reserve(now(), tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3], ARGV[4] == '1')
