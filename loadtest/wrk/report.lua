-- Shared by the load kit's wrk scripts (loaded with dofile): prints one
-- machine-readable line that scripts/loadtest.sh turns into a table row.
--   LOADTEST_ROW|name|req/s|p50 ms|p99 ms|status>=400|socket errors|codes
-- LT_ROW names the row.
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("LOADTEST_ROW|%s|%.0f|%.3f|%.3f|%d|%d|-\n",
    os.getenv("LT_ROW") or "?",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    e.status, e.connect + e.read + e.write + e.timeout))
end
