-- Takes one execute from a caller's token bucket, atomically. KEYS: the caller's bucket (one key,
-- under the hash tag of the caller's shard). ARGV: rate (tokens per second), burst (the bucket's
-- size). The bucket is a hash {tokens, ms}: what it held at ms, Redis's own clock (TIME), so every
-- replica shares one clock. Answers {1, 0} when a token was taken, {0, wait ms} when the caller
-- must wait that long for the next one. An idle bucket is full: it expires once it would be.
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ms')
local tokens = tonumber(state[1]) or burst
local last = tonumber(state[2]) or now
if now > last then
  tokens = math.min(burst, tokens + (now - last) * rate / 1000)
  last = now
end
local taken, wait = 0, 0
if tokens >= 1 then
  tokens = tokens - 1
  taken = 1
else
  wait = math.ceil((1 - tokens) * 1000 / rate)
end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.6f', tokens), 'ms', tostring(last))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst * 1000 / rate) + 1000)
return {taken, wait}
