-- Moves a batch of a Sergeant 0.27.0 queue into ours (sergeant_redis.legacy).
-- KEYS: old list, old delayed zset, our normal list, our delayed zset, our seq
-- counter, our next_due hint (dropped when delayed items arrive: the next
-- reserve scans). ARGV: batch size. Returns {moved from the list, moved from the zset}.
local n = tonumber(ARGV[1])
local items = redis.call('LPOP', KEYS[1], n)
local listed = 0
if items then
  listed = #items
  for i = 1, listed, 4000 do
    redis.call('RPUSH', KEYS[3], unpack(items, i, math.min(i + 3999, listed)))
  end
end
local delayed = 0
if listed < n then
  local found = redis.call('ZRANGE', KEYS[2], 0, n - listed - 1, 'WITHSCORES')
  delayed = #found / 2
  if delayed > 0 then
    local first = redis.call('INCRBY', KEYS[5], delayed) - delayed
    local members = {}
    for i = 1, delayed do
      members[2 * i - 1] = found[2 * i]
      members[2 * i] = string.format('%016x', first + i) .. 'N0:' .. found[2 * i - 1]
    end
    for i = 1, #members, 4000 do
      redis.call('ZADD', KEYS[4], unpack(members, i, math.min(i + 3999, #members)))
    end
    redis.call('ZREMRANGEBYRANK', KEYS[2], 0, delayed - 1)
    redis.call('DEL', KEYS[6])
  end
end
return {listed, delayed}
