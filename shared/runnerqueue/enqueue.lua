-- KEYS[1] the attempt's marker, KEYS[2] the queue, KEYS[3] the index of attempts.
-- ARGV: deliberation id, submission id, request JSON, deadline (unix s), callback, ttl ms, now ms,
-- traceparent and tracestate (the entry's trace fields, written only when there is a trace).
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
redis.call('HSET', KEYS[1], 'state', 'PENDING', 'deliberation_id', ARGV[1], 'enqueued_at', ARGV[7])
redis.call('PEXPIRE', KEYS[1], ARGV[6])
redis.call('ZADD', KEYS[3], tonumber(ARGV[7]) + tonumber(ARGV[6]), ARGV[2])
local entry = {'attempt', ARGV[2], 'request', ARGV[3], 'deadline', ARGV[4], 'callback', ARGV[5]}
if ARGV[8] ~= '' then
  table.insert(entry, 'traceparent')
  table.insert(entry, ARGV[8])
  if ARGV[9] ~= '' then
    table.insert(entry, 'tracestate')
    table.insert(entry, ARGV[9])
  end
end
redis.call('XADD', KEYS[2], '*', unpack(entry))
return 1
