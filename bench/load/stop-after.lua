-- wrk script: each thread sends WRK_REQUESTS_PER_THREAD requests (so -t2 with 5000 = 10,000 in
-- all), cycling through the paths in WRK_PATHS (comma separated), with the headers given on the
-- command line; counts non-200 answers per thread and prints one JSON line at the end.
local threads = {}
-- wrk runs for its whole -d even when every thread has stopped, so throughput comes from the
-- wall-clock span between each thread's first request and its last answer (LuaJIT FFI).
local ffi = require("ffi")
ffi.cdef[[
  typedef struct { long tv_sec; long tv_usec; } timeval_t;
  int gettimeofday(timeval_t *tv, void *tz);
]]
local function now_us()
  local tv = ffi.new("timeval_t")
  ffi.C.gettimeofday(tv, nil)
  return tonumber(tv.tv_sec) * 1000000 + tonumber(tv.tv_usec)
end

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
  first_us, last_us = 0, 0
end

function request()
  if first_us == 0 then first_us = now_us() end
  index = index % #paths + 1
  sent = sent + 1
  return wrk.format("GET", paths[index])
end

function response(status, headers, body)
  answered = answered + 1
  if status ~= 200 then failures = failures + 1 end
  if answered == limit then last_us = now_us() end
  if answered >= limit then wrk.thread:stop() end
end

function done(summary, latency, requests)
  local total_failures, total_answered, start_us, end_us = 0, 0, math.huge, 0
  for _, thread in ipairs(threads) do
    total_failures = total_failures + thread:get("failures")
    total_answered = total_answered + thread:get("answered")
    start_us = math.min(start_us, thread:get("first_us"))
    end_us = math.max(end_us, thread:get("last_us"))
  end
  io.write(string.format(
    '{"requests": %d, "non_200": %d, "errors_connect": %d, "errors_read": %d, "errors_timeout": %d, ' ..
    '"duration_us": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d}\n',
    total_answered, total_failures, summary.errors.connect, summary.errors.read, summary.errors.timeout,
    end_us - start_us, latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
