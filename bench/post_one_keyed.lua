-- wrk script: every request is a valid POST /one with an Idempotency-Key of its own (a new request each time).
local counter = 0
local prefix = ""

function setup(thread)
  thread:set("thread_id", tostring(math.random(1, 1e9)))
end

function init(args)
  prefix = string.format("%d-%s-", os.time(), thread_id)
end

request = function()
  counter = counter + 1
  return wrk.format("POST", "/one", {
    ["Content-Type"] = "application/json",
    ["Idempotency-Key"] = prefix .. counter,
  }, '{"user_id": "bench-user", "prompt": "hello", "data": [{"key": "k", "value": "v"}]}')
end

done = function(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    "RESULT requests=%d seconds=%.3f p50_ms=%.3f p99_ms=%.3f non2xx=%d socket_errors=%d\n",
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1e3, latency:percentile(99) / 1e3,
    errors.status, errors.connect + errors.read + errors.write + errors.timeout))
end
