#!lua flags=allow-oom
-- KEYS: the queue keys (scripts.KEY_PARTS).
-- ARGV: the delay in seconds ('' for none), then as ack.lua. Returns how many
-- were put back.
-- include: _lib.lua
local t = now()
local delay = tonumber(ARGV[1])
local due = delay and t + delay
local later = delay and delay > 0
return each_batch(2, function(token, first, last)
  local taken, a, b, c = take_live(t, token, first, last)
  local entries = {}
  for i = 1, #taken, 2 do
    entries[#entries + 1] = entry_of(tonumber(taken[i]), taken[i + 1], a, b, c)
  end
  if later and #entries > 0 then
    due_by(due)
    for i = 1, #entries do
      local seq = redis.call('INCR', KEYS[8])
      redis.call('ZADD', KEYS[5], due, string.format('%016x', seq) .. entries[i])
    end
  else
    requeue(entries)
  end
  return #entries
end)
