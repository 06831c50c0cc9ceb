-- Fragment: moves due delayed items and expired leases back to the lists,
-- defining _lib.lua's helpers only when there may be something to maintain:
-- the common case (no delayed items, no leases) runs one EXISTS, and the
-- next_due hint (_due.lua) spares the scans until something can be due.
-- Expects a local count. Leaves quiet_ms: the milliseconds before anything can
-- fall due as far as this node knows now (1000 when the queue has no delayed
-- items and no leases, 0 when unknown: more was due than one call moves).
local quiet_ms = 1000
if redis.call('EXISTS', KEYS[5], KEYS[6]) > 0 then
  -- include: _lib.lua
  local t = now()
  local h = maintain_if_needed(t, count)
  quiet_ms = h and math.floor((h - t) * 1000) or 0
end
