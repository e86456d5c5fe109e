-- wrk script of bench/bench_serve.sh: one script for both loads (wrk takes a single script).
--   TC_BENCH_MODE=poll   : the URL given to wrk is GETted (a v2 status URL); nothing to set up here.
--   TC_BENCH_MODE=submit : POST the JSON of TC_BENCH_BODY to the URL (POST /v2/tooncrafter).
-- done() prints one machine-readable line that the shell script parses (wrk's own text is for people):
--   RESULT rps=<requests/s> p50_ms=<> p90_ms=<> p99_ms=<> max_ms=<> requests=<> non2xx=<> sock_errors=<>
local mode = os.getenv("TC_BENCH_MODE") or "poll"

if mode == "submit" then
  wrk.method = "POST"
  wrk.body = os.getenv("TC_BENCH_BODY") or error("TC_BENCH_BODY is not set")
  wrk.headers["Content-Type"] = "application/json"
end

function done(summary, latency, requests)
  local secs = summary.duration / 1e6
  local e = summary.errors
  -- latency values are microseconds
  io.write(string.format(
    "RESULT rps=%.1f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f max_ms=%.3f requests=%d non2xx=%d sock_errors=%d\n",
    summary.requests / secs, latency:percentile(50) / 1e3, latency:percentile(90) / 1e3,
    latency:percentile(99) / 1e3, latency.max / 1e3, summary.requests, e.status,
    e.connect + e.read + e.write + e.timeout))
end
