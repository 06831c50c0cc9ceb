-- Fragment: moves due delayed items and expired leases back to the lists,
-- defining _lib.lua's helpers only when there may be something to maintain:
-- the common case (no delayed items, no leases) runs one EXISTS, and the
-- next_due hint (_due.lua) spares the scans until something can be due.
-- Expects a local count.
if redis.call('EXISTS', KEYS[5], KEYS[6]) > 0 then
  -- include: _lib.lua
  maintain_if_needed(now(), count)
end
