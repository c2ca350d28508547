-- wrk script: each thread sends WRK_REQUESTS_PER_THREAD requests (so -t2 with 5000 = 10,000 in
-- all), cycling through the paths in WRK_PATHS (comma separated), with the headers given on the
-- command line; counts non-200 answers per thread and prints one JSON line at the end.
local threads = {}

function setup(thread)
  thread:set("id", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  limit = tonumber(os.getenv("WRK_REQUESTS_PER_THREAD") or "5000")
  paths = {}
  for path in string.gmatch(os.getenv("WRK_PATHS") or "/token/connect", "([^,]+)") do
    table.insert(paths, path)
  end
  sent, answered, failures, index = 0, 0, 0, 0
end

function request()
  index = index % #paths + 1
  sent = sent + 1
  return wrk.format("GET", paths[index])
end

function response(status, headers, body)
  answered = answered + 1
  if status ~= 200 then failures = failures + 1 end
  if answered >= limit then wrk.thread:stop() end
end

function done(summary, latency, requests)
  local total_failures, total_answered = 0, 0
  for _, thread in ipairs(threads) do
    total_failures = total_failures + thread:get("failures")
    total_answered = total_answered + thread:get("answered")
  end
  io.write(string.format(
    '{"requests": %d, "non_200": %d, "errors_connect": %d, "errors_read": %d, "errors_timeout": %d, ' ..
    '"duration_us": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d}\n',
    total_answered, total_failures, summary.errors.connect, summary.errors.read, summary.errors.timeout,
    summary.duration, latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
