#!lua flags=allow-oom
-- KEYS: the queue keys (scripts.KEY_PARTS).
-- ARGV: count. Moves due delayed items and expired leases back to the lists;
-- the bulk pop pipelines it with a native LMPOP (the items never cross into Lua).
-- Returns quiet_ms (_maintain_first.lua): how long nothing can fall due.
local count = tonumber(ARGV[1])
-- include: _maintain_first.lua
return quiet_ms
