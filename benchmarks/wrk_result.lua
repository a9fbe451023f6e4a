-- The one line of figures both wrk scripts print for benchmarks/serving.py to parse.
function done(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    "RESULT requests=%d seconds=%.3f p50_ms=%.3f p99_ms=%.3f max_ms=%.3f errors=%d timeouts=%d statuses=%d\n",
    summary.requests, summary.duration / 1e6,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000,
    errors.connect + errors.read + errors.write + errors.timeout + errors.status,
    errors.timeout, errors.status))
end
