#!lua flags=allow-oom
-- KEYS: the queue keys (scripts.KEY_PARTS).
-- No ARGV. Returns the next item (or nil), HIGH before NORMAL, destructively.
local count = 1
-- include: _maintain_first.lua
for i = 1, 4 do
  local item = redis.call('LPOP', KEYS[i])
  if item then
    if i == 1 or i == 3 then return string.sub(item, string.find(item, ':', 2, true) + 1) end
    return item
  end
end
return false
