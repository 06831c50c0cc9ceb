#!lua flags=allow-oom
-- KEYS: lock key. ARGV: owner token, ttl seconds. Renews only the owner's lock.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('EXPIRE', KEYS[1], ARGV[2])
end
return 0
