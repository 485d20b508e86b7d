-- POST /oauth2/token with client credentials in the form body, as the seed
-- document shows. BENCH_CLIENT_ID and BENCH_CLIENT_SECRET come from bench.py.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.body = "grant_type=client_credentials&client_id=" .. os.getenv("BENCH_CLIENT_ID") ..
           "&client_secret=" .. os.getenv("BENCH_CLIENT_SECRET")

function done(summary, latency, requests)
    local e = summary.errors
    io.write(string.format(
        'BENCH {"requests":%d,"duration_us":%d,"bytes":%d,"status_errors":%d,' ..
        '"socket_errors":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"mean_us":%.1f}\n',
        summary.requests, summary.duration, summary.bytes, e.status,
        e.connect + e.read + e.write + e.timeout,
        latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.mean))
end
