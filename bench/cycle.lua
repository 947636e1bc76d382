-- wrk script for bench/run.py: cycles through a list of distinct URLs and records every request.
--
-- Environment: BENCH_URLS (a file, one path a line), BENCH_THREADS (wrk's -t, one connection per thread),
-- BENCH_PASSES (0: run for wrk's -d; n: record n passes over each thread's share), BENCH_SAMPLES (the
-- file done() writes). Thread i of n takes lines i, i + n, i + 2n, ... of the list, in order, so each URL is
-- asked once before any URL is asked again: the first pass is the cold one.
--
-- Latency is timed here rather than taken from wrk's histogram, which wrk "corrects" for coordinated omission
-- by adding samples that were never sent; with one connection per thread a response answers the last request.
-- Each response appends "line start_us latency_us status" (line: the URL's 1-based line in the file). A thread
-- that has finished its passes writes "done" on stderr and goes on asking its URLs again, unrecorded, until
-- bench/run.py ends wrk (SIGINT) once every thread is done: the load stays at n clients to the end of the pass,
-- and no client is left holding an idle connection (wrk reconnects after each answer: gunicorn's sync workers
-- close the connection), which would tie up a sync worker until its timeout.
local ffi = require("ffi")
ffi.cdef([[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clock_id, bench_timespec *tp);
]])
local clock = ffi.new("bench_timespec")
local CLOCK_MONOTONIC = 1

local function now_us()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, clock)
  return tonumber(clock.tv_sec) * 1000000 + math.floor(tonumber(clock.tv_nsec) / 1000)
end

local threads = {}

function setup(thread)
  thread:set("id", #threads)
  threads[#threads + 1] = thread
end

-- Per thread (each has its own Lua state): its share of the list and what it has measured.
local paths, lines = {}, {}
local position, answered, passes, started = 1, 0, 0, 0
samples = {}

function init(args)
  local count = tonumber(os.getenv("BENCH_THREADS") or "1")
  local all = {}
  for line in io.lines(os.getenv("BENCH_URLS")) do
    if #line > 0 then
      all[#all + 1] = line
    end
  end
  for index = id + 1, #all, count do
    paths[#paths + 1] = all[index]
    lines[#lines + 1] = index
  end
  if #paths == 0 then -- fewer URLs than threads: share them round
    local index = id % #all + 1
    paths[1], lines[1] = all[index], index
  end
  passes = tonumber(os.getenv("BENCH_PASSES") or "0")
end

function request()
  started = now_us()
  return wrk.format("GET", paths[position])
end

function response(status, headers, body)
  local finished = now_us()
  local wanted = passes * #paths
  if passes == 0 or answered < wanted then
    local n = #samples
    samples[n + 1], samples[n + 2], samples[n + 3] = lines[position], started, finished - started
    samples[n + 4] = status
    answered = answered + 1
    if passes > 0 then
      io.stderr:write(answered == wanted and "answered\ndone\n" or "answered\n")
    end
  end
  position = position % #paths + 1
end

function done(summary, latency, requests)
  local out = assert(io.open(os.getenv("BENCH_SAMPLES"), "w"))
  for _, thread in ipairs(threads) do
    local s = thread:get("samples")
    for i = 1, #s, 4 do
      out:write(string.format("%d %d %d %d\n", s[i], s[i + 1], s[i + 2], s[i + 3]))
    end
  end
  out:close()
  local errors = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "connect_errors": %d, "read_errors": %d, "write_errors": %d, ' ..
    '"timeouts": %d}\n',
    summary.requests, summary.duration, errors.connect, errors.read, errors.write, errors.timeout))
end
