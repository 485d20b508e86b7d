-- GET with the bearer token, for closeloop and nginx alike (nginx ignores
-- the header). BENCH_PATHS, when set, names a file of request paths, one a
-- line; each request then takes one at random, so that a run reads many
-- pages rather than one. Otherwise wrk's own URL is requested every time.
local token = os.getenv("BENCH_TOKEN") or "none"
wrk.headers["Authorization"] = "Bearer " .. token

local list = os.getenv("BENCH_PATHS")
if list and list ~= "" then
    local paths = {}
    for line in io.lines(list) do
        if line ~= "" then
            paths[#paths + 1] = line
        end
    end
    local n = #paths
    local counter = 0
    local threads = {}
    function setup(thread)
        thread:set("tid", #threads)
        threads[#threads + 1] = thread
    end
    function init(args)
        math.randomseed(1000003 * (tid or 0) + 17)
    end
    function request()
        return wrk.format("GET", paths[math.random(n)])
    end
end

-- One machine-readable line for bench.py: counts and latency percentiles
-- in microseconds.
function done(summary, latency, requests)
    local e = summary.errors
    io.write(string.format(
        'BENCH {"requests":%d,"duration_us":%d,"bytes":%d,"status_errors":%d,' ..
        '"socket_errors":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"mean_us":%.1f}\n',
        summary.requests, summary.duration, summary.bytes, e.status,
        e.connect + e.read + e.write + e.timeout,
        latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.mean))
end
