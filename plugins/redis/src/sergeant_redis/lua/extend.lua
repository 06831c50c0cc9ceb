#!lua flags=allow-oom
-- KEYS: the queue keys (scripts.KEY_PARTS).
-- ARGV: lease seconds, then as ack.lua. Returns how many leases were live and renewed.
-- A group whose items are all renewed keeps its name; renewed items of a group
-- that keeps others move to a new split group with the new expiry.
-- include: _lib.lua
local t = now()
local expiry = t + tonumber(ARGV[1])
local renewed = each_batch(2, function(token, first, last)
  local a, b, c, splits = meta(token)
  local all, moving, seen, done = groups(token, splits), {}, {}, 0
  for i = 1, #all do
    if live(all[i], t) then
      local found = held(all[i], first, last, seen)
      if #found > 0 then
        done = done + #found / 2
        if #found / 2 == glen(all[i]) then
          redis.call('ZADD', KEYS[6], 'XX', expiry, all[i])
        else
          local numbers = {}
          for j = 1, #found, 2 do
            numbers[#numbers + 1] = found[j]
            moving[#moving + 1] = found[j]
            moving[#moving + 1] = found[j + 1]
          end
          gremove(all[i], numbers, 1, #numbers)
        end
      end
    end
  end
  if #moving > 0 then
    local own = 1
    for i = 1, #splits do own = math.max(own, tonumber(splits[i]) + 1) end
    local group = token .. '/' .. own
    slices('HSET', group_key(group), moving, 1, #moving)
    redis.call('ZADD', KEYS[6], expiry, group)
    splits[#splits + 1] = tostring(own)
    set_meta(token, a, b, c, splits)
  end
  return done
end)
if renewed > 0 then due_by(expiry) end
return renewed
