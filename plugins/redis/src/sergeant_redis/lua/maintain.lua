-- KEYS: the queue keys (scripts.KEY_PARTS).
-- ARGV: count. Moves due delayed items and expired leases back to the lists;
-- the bulk pop pipelines it with a native LMPOP (the items never cross into Lua).
-- Returns the milliseconds before anything can fall due as far as this node
-- knows now: 1000 when the queue has no delayed items and no leases, 0 when
-- unknown (more was due than one call moves).
local count = tonumber(ARGV[1])
if redis.call('EXISTS', KEYS[5], KEYS[6]) == 0 then return 1000 end
-- include: _lib.lua
local t = now()
local h = maintain_if_needed(t, count)
if not h then return 0 end
return math.floor((h - t) * 1000)
