-- Deletes a Sergeant 0.27.0 key copied to another node, only if unchanged since.
-- KEYS: old key. ARGV: the value copied. Returns how many keys were deleted.
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
