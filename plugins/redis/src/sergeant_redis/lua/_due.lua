-- KEYS[9] (next_due) spares the reserve scripts their scans for due delayed
-- items and expired leases: nothing falls due before the time it holds, and
-- the key expires at that time. A scan writes it (the earliest delayed due
-- time or lease expiry, but at most a second ahead, so a writer that does not
-- know the hint, such as an earlier version during an upgrade, is seen within
-- a second, and a drained queue's hint is gone a second later); absent means
-- unknown. A script storing something due at x keeps the hint at or before x.
local function set_due(x)
  redis.call('SET', KEYS[9], x, 'PXAT', math.ceil(x * 1000))
end

local function due_by(x)
  local h = redis.call('GET', KEYS[9])
  if h and tonumber(h) > x then set_due(x) end
end
