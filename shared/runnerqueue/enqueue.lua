-- KEYS[1] the attempt's marker, KEYS[2] the queue, KEYS[3] the index of attempts.
-- ARGV: deliberation id, submission id, request JSON, deadline (unix s), callback, ttl ms, now ms,
-- traceparent and tracestate (the entry's trace fields, written only when there is a trace), the
-- most entries the stream may hold (0: no bound). Answers 1 (queued), 0 (queued before) or -1: the
-- stream is full, nothing written. The bound refuses; it never trims, since an entry in the stream
-- is either not yet read or read and not yet acknowledged (a runner deletes it once done).
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
local bound = tonumber(ARGV[10])
if bound > 0 and redis.call('XLEN', KEYS[2]) >= bound then
  return -1
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
