-- KEYS[1] the attempt's marker. Marks a queued or running attempt STOPPED; 0 when there is none.
local state = redis.call('HGET', KEYS[1], 'state')
if not state then
  return 0
end
if state == 'PENDING' or state == 'RUNNING' then
  redis.call('HSET', KEYS[1], 'state', 'STOPPED')
end
return 1
