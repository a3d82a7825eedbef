-- wrk script: every request is the same POST /one with the same Idempotency-Key: after the first, all are retries.
wrk.method = "POST"
wrk.path = "/one"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Idempotency-Key"] = "bench-retried-" .. os.time()
wrk.body = '{"user_id": "bench-user", "prompt": "hello", "data": [{"key": "k", "value": "v"}]}'

done = function(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    "RESULT requests=%d seconds=%.3f p50_ms=%.3f p99_ms=%.3f non2xx=%d socket_errors=%d\n",
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1e3, latency:percentile(99) / 1e3,
    errors.status, errors.connect + errors.read + errors.write + errors.timeout))
end
