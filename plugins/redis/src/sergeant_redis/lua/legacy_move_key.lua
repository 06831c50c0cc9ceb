-- Moves a Sergeant 0.27.0 key into ours on the same node (sergeant_redis.legacy).
-- KEYS: old key, our key. Returns 1 moved, 0 ours already had the same value
-- (old dropped), -1 ours has another value (both kept), -2 no old string.
if redis.call('TYPE', KEYS[1]).ok ~= 'string' then return -2 end
local old = redis.call('GET', KEYS[1])
local ours = redis.call('GET', KEYS[2])
if ours and ours ~= old then return -1 end
if not ours then redis.call('SET', KEYS[2], old) end
redis.call('DEL', KEYS[1])
return ours and 0 or 1
