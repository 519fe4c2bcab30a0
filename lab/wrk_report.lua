-- wrk's done() hook: print the run's figures as one JSON line, so the lab reads numbers, not prose.
done = function(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      '\nLAB_WRK_JSON {"requests": %d, "duration_us": %d, "bytes": %d, ' ..
      '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ' ..
      '"latency_us": {"p50": %d, "p90": %d, "p99": %d, "p999": %d, "p9999": %d, "max": %d, "mean": %.3f}}\n',
      summary.requests, summary.duration, summary.bytes,
      e.connect, e.read, e.write, e.status, e.timeout,
      latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9),
      latency:percentile(99.99), latency.max, latency.mean))
end
