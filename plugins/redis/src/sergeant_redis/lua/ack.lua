#!lua flags=allow-oom
-- KEYS: the queue keys (scripts.KEY_PARTS).
-- ARGV: per batch: token, k, k item numbers (or token, -k for all k items of
-- the call). Returns how many were live and are gone.
-- include: _lib.lua
local t = now()
return each_batch(1, function(token, first, last)
  return ack_batch(t, token, ARGV, first, last)
end, function(token, count) return ack_whole(t, token, count) end)
