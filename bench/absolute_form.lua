-- wrk script for bench/run.sh. wrk has no proxy support, so for the proxied runs wrk is pointed at
-- netfence and this script rewrites every request into absolute form:
--   GET http://127.0.0.1:<origin port>/100b HTTP/1.1
--   Host: 127.0.0.1:<origin port>
-- Environment:
--   BENCH_ORIGIN  "127.0.0.1:<origin port>" (required)
--   BENCH_PATH    "/100b" or "/64k" (required)
--   BENCH_DIRECT  "1" for the direct runs: origin-form path, same Host, same reporting
--   BENCH_CLOSE   "1" sends "Connection: close": every request then needs a new TCP connection to
--                 the proxy (wrk reconnects after each response), the new-connection-per-request case
-- done() prints one machine-readable line (latencies in microseconds) that run.sh parses:
--   RESULT requests=.. duration_us=.. rps=.. p50_us=.. p99_us=.. non2xx=.. errors=..

local origin = os.getenv("BENCH_ORIGIN")
local path = os.getenv("BENCH_PATH")
if origin == nil or path == nil then
  error("BENCH_ORIGIN and BENCH_PATH must be set")
end

if os.getenv("BENCH_DIRECT") == "1" then
  wrk.path = path
else
  wrk.path = "http://" .. origin .. path
end
wrk.headers["Host"] = origin
if os.getenv("BENCH_CLOSE") == "1" then
  wrk.headers["Connection"] = "close"
end

function done(summary, latency, requests)
  local e = summary.errors
  local socket_errors = e.connect + e.read + e.write + e.timeout
  io.write(string.format(
    "RESULT requests=%d duration_us=%d rps=%.1f p50_us=%d p99_us=%d non2xx=%d errors=%d\n",
    summary.requests, summary.duration, summary.requests / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(99), e.status, socket_errors))
end
