#!lua flags=allow-oom
-- KEYS: the queue keys (scripts.KEY_PARTS).
-- ARGV: count. Returns up to count items, HIGH before NORMAL, destructively.
-- LMPOP takes from the first non-empty list: retry_high, high, retry_normal, normal.
local count = tonumber(ARGV[1])
-- include: _maintain_first.lua
local out = {}
while #out < count do
  local got = redis.call('LMPOP', 4, KEYS[1], KEYS[2], KEYS[3], KEYS[4], 'LEFT',
    'COUNT', count - #out)
  if not got then break end
  local items = got[2]
  if got[1] == KEYS[1] or got[1] == KEYS[3] then
    for j = 1, #items do
      local entry = items[j]
      out[#out + 1] = string.sub(entry, string.find(entry, ':', 2, true) + 1)
    end
  elseif #out == 0 then
    out = items
  else
    for j = 1, #items do out[#out + 1] = items[j] end
  end
end
return out
