-- Fragment: moves due delayed items and expired leases back to the lists,
-- defining _lib.lua's helpers only when there is something to maintain: the
-- common case (no delayed items, no leases) runs one EXISTS. Expects a local count.
if redis.call('EXISTS', KEYS[5], KEYS[6]) > 0 then
  -- include: _lib.lua
  maintain(now(), math.min(math.max(count, 100), 4000))
end
