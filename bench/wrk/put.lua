-- PUT /v7/rest/close-loop/status: a random survey response number in
-- 1..BENCH_NUMBERS, a random status, and a note unique to the request
-- ("bench-<run>-<thread>-<n>"), so that every acknowledged write can be
-- found in the database afterwards. Each thread counts the 2xx answers it
-- received; done() adds them up for bench.py's durability check.
local token = os.getenv("BENCH_TOKEN") or "none"
local numbers = tonumber(os.getenv("BENCH_NUMBERS") or "100000")
local run = os.getenv("BENCH_RUN") or "0"
local statuses = {"open", "progress", "closed"}
local headers = {
    ["Authorization"] = "Bearer " .. token,
    ["Content-Type"] = "application/json",
}
local threads = {}

function setup(thread)
    thread:set("tid", #threads)
    threads[#threads + 1] = thread
end

function init(args)
    sent = 0
    acks = 0
    fails = 0
    math.randomseed(7919 * (tid or 0) + tonumber(run))
end

function request()
    sent = sent + 1
    local body = string.format('{"number_customergauge":%d,"status":"%s","note":"bench-%s-%d-%d"}',
                               math.random(numbers), statuses[math.random(3)], run, tid, sent)
    return wrk.format("PUT", "/v7/rest/close-loop/status", headers, body)
end

function response(status, hdrs, body)
    if status >= 200 and status < 300 then
        acks = acks + 1
    else
        fails = fails + 1
    end
end

function done(summary, latency, requests)
    local a, f = 0, 0
    for _, t in ipairs(threads) do
        a = a + t:get("acks")
        f = f + t:get("fails")
    end
    local e = summary.errors
    io.write(string.format(
        'BENCH {"requests":%d,"duration_us":%d,"bytes":%d,"status_errors":%d,' ..
        '"socket_errors":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"mean_us":%.1f,' ..
        '"acks":%d,"fails":%d}\n',
        summary.requests, summary.duration, summary.bytes, e.status,
        e.connect + e.read + e.write + e.timeout,
        latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.mean,
        a, f))
end
