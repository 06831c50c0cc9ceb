-- The queue scripts' shared helpers (included by them; defines locals only).
-- KEYS are the nine queue keys of scripts.KEY_PARTS; what each key holds is
-- the key layout in plugins/redis/README.md.
--
-- An entry is an item with a history: '<P><deliveries>:<item>', P = 'H' or 'N'.
-- Fresh items are stored raw, without one.
--
-- Reservations are per batch: one reserve call on a node is one lease (a group,
-- named by the call's token). Extending only some of a group's items moves
-- them to a group of their own ('<token>/<k>'), so each lease has one expiry.
-- A batch's meta (field token of the batches hash) says which item numbers
-- came from which list and lists the live split groups. The groups' keys are
-- found through the leases zset, not passed as KEYS (fine on independent
-- servers, not on a cluster); they share the queue's prefix.

-- include: _now.lua
-- include: _due.lua

-- cmd(key, args[first..last]) in slices (Lua's unpack has a stack limit);
-- returns the sum of the replies.
local function slices(cmd, key, args, first, last)
  local sum = 0
  for i = first, last, 4000 do
    sum = sum + redis.call(cmd, key, unpack(args, i, math.min(i + 3999, last)))
  end
  return sum
end

local function hmget(key, args, first, last)
  local out = {}
  for i = first, last, 4000 do
    local got = redis.call('HMGET', key, unpack(args, i, math.min(i + 3999, last)))
    for j = 1, #got do out[#out + 1] = got[j] end
  end
  return out
end

local function split(entry)
  local colon = string.find(entry, ':', 2, true)
  return string.sub(entry, 1, 1), tonumber(string.sub(entry, 2, colon - 1)),
    string.sub(entry, colon + 1)
end

-- Back to the lists, in order: an item never handed out rejoins the fresh items
-- (raw), one with a history goes to its priority's retry list, served first.
local function requeue(entries)
  local lists = {{}, {}, {}, {}}
  for i = 1, #entries do
    local p, d, item = split(entries[i])
    local list = lists[(p == 'H' and 1 or 3) + (d == 0 and 1 or 0)]
    list[#list + 1] = d == 0 and item or entries[i]
  end
  for i = 1, 4 do
    if #lists[i] > 0 then slices('RPUSH', KEYS[i], lists[i], 1, #lists[i]) end
  end
end

local function group_key(group) return KEYS[6] .. ':' .. group end

local function token_of(group) return string.match(group, '^[^/]*') end

-- A batch's own group keeps its stored values in a list (item n at index n - 1)
-- and the numbers no longer in it in the set '<key>:gone'; a split group (rare)
-- is a hash, item number -> stored value. A group's keys exist only while it
-- holds items. (A list takes a batch in one cheap append: a hash of 1,000
-- fields cost about 0.7 ms of server time per reserve.)
local function is_split(group) return string.find(group, '/', 1, true) ~= nil end

-- How many items the group holds.
local function glen(group)
  local key = group_key(group)
  if is_split(group) then return redis.call('HLEN', key) end
  local n = redis.call('LLEN', key)
  if n == 0 then return 0 end
  return n - redis.call('SCARD', key .. ':gone')
end

local function gdel(group)
  local key = group_key(group)
  if is_split(group) then
    redis.call('DEL', key)
  else
    redis.call('DEL', key, key .. ':gone')
  end
end

-- An own group's values, and the set of numbers (strings) no longer held.
local function own_items(key)
  local values, gone = redis.call('LRANGE', key, 0, -1), {}
  if #values > 0 and redis.call('EXISTS', key .. ':gone') == 1 then
    for _, n in ipairs(redis.call('SMEMBERS', key .. ':gone')) do gone[n] = true end
  end
  return values, gone
end

-- args[i] as an item number of an own group of len items (its canonical
-- string, as receipts carry it), or nil.
local function own_number(s, len)
  local n = tonumber(s)
  if n and n >= 1 and n <= len and n % 1 == 0 and tostring(n) == s then return n end
  return nil
end

-- The stored values of the item numbers args[first..last] in group, false
-- where the group does not hold it (as HMGET answers).
local function gvalues(group, args, first, last)
  local key = group_key(group)
  if is_split(group) then return hmget(key, args, first, last) end
  local values, gone = own_items(key)
  local out = {}
  for i = first, last do
    local n = own_number(args[i], #values)
    out[#out + 1] = n and not gone[args[i]] and values[n] or false
  end
  return out
end

-- Stop holding the item numbers args[first..last]; returns how many it held.
local function gremove(group, args, first, last)
  local key = group_key(group)
  if is_split(group) then return slices('HDEL', key, args, first, last) end
  local len = redis.call('LLEN', key)
  if len == 0 then return 0 end
  local numbers = {}
  for i = first, last do
    if own_number(args[i], len) then numbers[#numbers + 1] = args[i] end
  end
  if #numbers == 0 then return 0 end
  local removed = slices('SADD', key .. ':gone', numbers, 1, #numbers)
  if removed > 0 and redis.call('SCARD', key .. ':gone') >= len then gdel(group) end
  return removed
end

-- The items the group holds, in item order: their numbers, and values by number.
local function gall(group)
  local key = group_key(group)
  local numbers, by_number = {}, {}
  if is_split(group) then
    local kv = redis.call('HGETALL', key)
    for i = 1, #kv, 2 do
      local n = tonumber(kv[i])
      numbers[#numbers + 1] = n
      by_number[n] = kv[i + 1]
    end
    table.sort(numbers)
  else
    local values, gone = own_items(key)
    for n = 1, #values do
      if not gone[tostring(n)] then
        numbers[#numbers + 1] = n
        by_number[n] = values[n]
      end
    end
  end
  return numbers, by_number
end

-- A batch's meta: where its items came from, and its live split groups.
local function meta(token)
  local m = redis.call('HGET', KEYS[7], token)
  if not m then return 0, 0, 0, {} end
  local a, b, c, rest = string.match(m, '^(%d+) (%d+) (%d+)(.*)$')
  local splits = {}
  for s in string.gmatch(rest, '%d+') do splits[#splits + 1] = s end
  return tonumber(a), tonumber(b), tonumber(c), splits
end

local function set_meta(token, a, b, c, splits)
  if c == 0 and #splits == 0 then
    redis.call('HDEL', KEYS[7], token)
  else
    local m = a .. ' ' .. b .. ' ' .. c
    if #splits > 0 then m = m .. ' ' .. table.concat(splits, ' ') end
    redis.call('HSET', KEYS[7], token, m)
  end
end

-- The groups of a batch: its own, then its live splits.
local function groups(token, splits)
  local out = {token}
  for i = 1, #splits do out[i + 1] = token .. '/' .. splits[i] end
  return out
end

-- The entry (with its history) of item n of a batch, from its stored value.
local function entry_of(n, value, a, b, c)
  if n > c then return 'N1:' .. value end
  if n > b then return value end
  if n > a then return 'H1:' .. value end
  return value
end

-- Group has no items left: drop its lease, and the batch's meta once no group is left.
local function drop(group)
  redis.call('ZREM', KEYS[6], group)
  local token = token_of(group)
  if redis.call('HEXISTS', KEYS[7], token) == 0 then return end
  local a, b, c, splits = meta(token)
  if group ~= token then
    local own = string.sub(group, #token + 2)
    for i = #splits, 1, -1 do
      if splits[i] == own then table.remove(splits, i) end
    end
  end
  if #splits == 0 and redis.call('EXISTS', group_key(token)) == 0 then
    redis.call('HDEL', KEYS[7], token)
  else
    set_meta(token, a, b, c, splits)
  end
end

local function live(group, t)
  local expiry = redis.call('ZSCORE', KEYS[6], group)
  return expiry and tonumber(expiry) > t
end

-- Put an expired group's items back (in item order); returns how many.
local function reclaim(group)
  local numbers, values = gall(group)
  if #numbers > 0 then
    local a, b, c = meta(token_of(group))
    local entries = {}
    for i = 1, #numbers do entries[i] = entry_of(numbers[i], values[numbers[i]], a, b, c) end
    requeue(entries)
    gdel(group)
  end
  drop(group)
  return #numbers
end

local function first_score(key)
  local first = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  return first[2] and tonumber(first[2]) or math.huge
end

-- Move due delayed items to the lists and reclaim expired leases: about limit
-- items of each, at most 100 groups. Returns the new next_due hint once that
-- was everything due (else nil, the hint deleted: the next call scans again).
local function maintain(t, limit)
  local due = redis.call('ZRANGEBYSCORE', KEYS[5], '-inf', t, 'LIMIT', 0, limit)
  local all = #due < limit
  if #due > 0 then
    local entries = {}
    for i = 1, #due do entries[i] = string.sub(due[i], 17) end
    requeue(entries)
    slices('ZREM', KEYS[5], due, 1, #due)
  end
  local expired = redis.call('ZRANGEBYSCORE', KEYS[6], '-inf', t, 'LIMIT', 0, 100)
  all = all and #expired < 100
  local moved = 0
  for i = 1, #expired do
    if moved >= limit then
      all = false
      break
    end
    moved = moved + reclaim(expired[i])
  end
  if not all then
    redis.call('DEL', KEYS[9])
    return nil
  end
  local h = math.min(first_score(KEYS[5]), first_score(KEYS[6]), t + 1)
  set_due(h)
  return h
end

-- Maintain unless the next_due hint says nothing can be due; returns the hint
-- (nil when unknown).
local function maintain_if_needed(t, count)
  local h = redis.call('GET', KEYS[9])
  h = h and tonumber(h)
  if h and h > t then return h end
  return maintain(t, math.min(math.max(count, 100), 4000))
end

-- Hand out up to count items under one new lease (group token). Returns
-- {items, {n, deliveries, ...}, copied}: the deliveries of item n when not 1.
-- LMPOP takes from the first non-empty list, so the lists are drained in KEYS
-- order; bounds[i] is how many items came from lists 1..i. With copy set and
-- fresh items first in line, the first copied items are copied into the group
-- natively (an item passing through Lua costs the server about four times its
-- LPOP); they are left out of items: the caller reads them from the group with
-- LRANGE. A list of at most twice count is copied whole by COPY (its nodes, a
-- memory copy each: ~4 us per 1,000 items) and the copy cut to count; a longer
-- one by SORT .. STORE (item by item: ~100 us per 1,000), so the copy never
-- holds more than count items beyond the ones handed out.
local function reserve(t, count, lease, token, copy)
  local h = maintain_if_needed(t, count)
  local items, extra, stored, bounds = {}, {}, {}, {0, 0, 0, 0}
  local n, copied = 0, 0
  if copy then
    -- Usually nothing waits in retry_high, high or retry_normal: one call for the three.
    local first = redis.call('EXISTS', KEYS[1], KEYS[2], KEYS[3]) == 0 and 4 or 1
    for i = first, 4 do
      local len = redis.call('LLEN', KEYS[i])
      if len > 0 then
        if i % 2 == 0 then
          local key = group_key(token)
          if len <= 2 * count then
            redis.call('COPY', KEYS[i], key, 'REPLACE')
            copied = math.min(len, count)
            if len > count then redis.call('LTRIM', key, 0, count - 1) end
          else
            copied = redis.call('SORT', KEYS[i], 'BY', 'nosort', 'LIMIT', 0, count,
              'STORE', key)
          end
          redis.call('LTRIM', KEYS[i], copied, -1)
          n = copied
          for j = i, 4 do bounds[j] = n end
        end
        break
      end
    end
  end
  while n < count do
    local got = redis.call('LMPOP', 4, KEYS[1], KEYS[2], KEYS[3], KEYS[4], 'LEFT',
      'COUNT', count - n)
    if not got then break end
    local list, popped = 4, got[2]
    for i = 1, 3 do
      if got[1] == KEYS[i] then list = i break end
    end
    if list == 1 or list == 3 then
      for j = 1, #popped do
        local p, d, item = split(popped[j])
        d = d + 1
        n = n + 1
        items[n - copied] = item
        extra[#extra + 1] = n
        extra[#extra + 1] = d
        stored[n - copied] = p .. d .. ':' .. item
      end
    elseif n == 0 and #popped == count then
      items, stored, n = popped, popped, count
    else
      for j = 1, #popped do
        n = n + 1
        items[n - copied] = popped[j]
        stored[n - copied] = popped[j]
      end
    end
    for i = list, 4 do bounds[i] = n end
  end
  if n > 0 then
    if n > copied then slices('RPUSH', group_key(token), stored, 1, n - copied) end
    local expiry = t + lease
    redis.call('ZADD', KEYS[6], expiry, token)
    if h and expiry < h then set_due(expiry) end
    if bounds[3] > 0 then
      redis.call('HSET', KEYS[7], token, bounds[1] .. ' ' .. bounds[2] .. ' ' .. bounds[3])
    end
  end
  return {items, extra, copied}
end

-- Ack items args[first..last] (numbers) of a batch; returns how many were live.
local function ack_batch(t, token, args, first, last)
  local done = 0
  if live(token, t) then
    done = gremove(token, args, first, last)
    if done > 0 and redis.call('EXISTS', group_key(token)) == 0 then drop(token) end
  end
  if done < last - first + 1 and redis.call('HEXISTS', KEYS[7], token) == 1 then
    local _, _, _, splits = meta(token)
    local all = groups(token, splits)
    for i = 2, #all do
      if live(all[i], t) then
        local n = gremove(all[i], args, first, last)
        if n > 0 then
          done = done + n
          if redis.call('EXISTS', group_key(all[i])) == 0 then drop(all[i]) end
        end
      end
    end
  end
  return done
end

-- Ack every item of a batch, 1..count being all the items its call handed out
-- (the client says so only then). The common case, all of them still in its
-- own live group (nothing acked, released or split off yet: no ':gone' set,
-- which a one-item batch never has), is one DEL; the group had no splits then,
-- so its meta goes with it.
local function ack_whole(t, token, count)
  if live(token, t) then
    local key = group_key(token)
    if (count == 1 or redis.call('EXISTS', key .. ':gone') == 0)
        and redis.call('DEL', key) == 1 then
      redis.call('ZREM', KEYS[6], token)
      redis.call('HDEL', KEYS[7], token)
      return count
    end
  end
  local numbers = {}
  for n = 1, count do numbers[n] = tostring(n) end
  return ack_batch(t, token, numbers, 1, count)
end

-- ARGV from start: token, how many, that many item numbers; again for each
-- batch. A negative count -k (acks only) stands for items 1..k, unlisted, when
-- they are all the items of the call.
local function each_batch(start, settle, settle_whole)
  local done, i, last = 0, start, #ARGV
  while i < last do
    local k = tonumber(ARGV[i + 1])
    if k < 0 then
      done = done + settle_whole(ARGV[i], -k)
      i = i + 2
    else
      done = done + settle(ARGV[i], i + 2, i + 1 + k)
      i = i + 2 + k
    end
  end
  return done
end

-- The item numbers among ARGV[first..last] that group holds and seen lacks
-- (each then set in seen to its stored value), with those values: {n, value, ...}.
local function held(group, first, last, seen)
  local values, found = gvalues(group, ARGV, first, last), {}
  for j = 1, #values do
    local n = ARGV[first + j - 1]
    if values[j] and not seen[n] then
      seen[n] = values[j]
      found[#found + 1] = n
      found[#found + 1] = values[j]
    end
  end
  return found
end

-- Remove the live items among ARGV[first..last] from a batch's groups: returns
-- them as (number, stored value) pairs, flat and in ARGV order, and the meta.
local function take_live(t, token, first, last)
  local a, b, c, splits = meta(token)
  local all, value_of = groups(token, splits), {}
  for i = 1, #all do
    if live(all[i], t) then
      local found = held(all[i], first, last, value_of)
      if #found > 0 then
        local numbers = {}
        for j = 1, #found, 2 do numbers[#numbers + 1] = found[j] end
        gremove(all[i], numbers, 1, #numbers)
        if redis.call('EXISTS', group_key(all[i])) == 0 then drop(all[i]) end
      end
    end
  end
  local taken = {}
  for j = first, last do
    local n = ARGV[j]
    if value_of[n] then
      taken[#taken + 1] = n
      taken[#taken + 1] = value_of[n]
      value_of[n] = nil
    end
  end
  return taken, a, b, c
end
