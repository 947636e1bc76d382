-- wrk script for bench/load/run.py: the requests walk the list of distinct paths in the file named by the PATHS
-- environment variable (one path a line), so no path is asked twice before every path has been asked once: thread
-- i of n takes lines i, i + n, i + 2n, ..., starting OFFSET lines in (the warm-up starts elsewhere than the run).
-- done() prints one JSON line with throughput, latency percentiles (ms), errors and the count of answers by
-- status class.
local paths = {}
local position = 1
local threads = {}
-- Global, not local: done() reads each thread's counts with thread:get().
counts = {}

local function load_paths()
  local all = {}
  for line in io.lines(os.getenv("PATHS")) do
    if #line > 0 then
      all[#all + 1] = line
    end
  end
  local count, offset = tonumber(os.getenv("THREADS") or "1"), tonumber(os.getenv("OFFSET") or "0")
  for index = id, #all, count do
    paths[#paths + 1] = all[(index - 1 + offset) % #all + 1]
  end
end

function setup(thread)
  thread:set("id", #threads + 1)
  threads[#threads + 1] = thread
end

function init(args)
  load_paths()
  counts = {["2xx"] = 0, ["3xx"] = 0, ["4xx"] = 0, ["5xx"] = 0}
end

function request()
  local path = paths[position]
  position = position % #paths + 1
  return wrk.format("GET", path)
end

function response(status, headers, body)
  local class = tostring(math.floor(status / 100)) .. "xx"
  counts[class] = (counts[class] or 0) + 1
end

function done(summary, latency, requests)
  local total = {["2xx"] = 0, ["3xx"] = 0, ["4xx"] = 0, ["5xx"] = 0}
  for _, thread in ipairs(threads) do
    local c = thread:get("counts")
    for key, value in pairs(c) do
      total[key] = (total[key] or 0) + value
    end
  end
  local errors = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "bytes": %d, "p50_ms": %.2f, "p90_ms": %.2f, "p95_ms": %.2f, ' ..
    '"p99_ms": %.2f, "max_ms": %.2f, "connect_errors": %d, "read_errors": %d, "write_errors": %d, ' ..
    '"status_errors": %d, "timeouts": %d, "status_2xx": %d, "status_3xx": %d, "status_4xx": %d, "status_5xx": %d}\n',
    summary.requests, summary.duration, summary.bytes,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(95) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000, errors.connect, errors.read, errors.write, errors.status,
    errors.timeout, total["2xx"], total["3xx"], total["4xx"], total["5xx"]))
end
