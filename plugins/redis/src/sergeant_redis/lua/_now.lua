-- The server's time, in seconds: leases and due times never depend on client clocks.
local function now()
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1000000
end
