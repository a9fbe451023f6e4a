-- wrk script for benchmarks/serving.py: GET a random path from the file $BENCH_PATHS; with
-- $BENCH_DELAY_MS > 0 each connection waits a random 0..2x that long between requests (paced
-- load); prints one RESULT line the benchmark parses.
local paths = {}
for line in io.lines(os.getenv("BENCH_PATHS")) do
  paths[#paths + 1] = line
end
local mean_delay = tonumber(os.getenv("BENCH_DELAY_MS") or "0")

function init(args)
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16) % 100000)
end

function request()
  return wrk.format("GET", paths[math.random(#paths)])
end

if mean_delay > 0 then
  function delay()
    return math.random() * 2 * mean_delay
  end
end

dofile(os.getenv("BENCH_RESULT_LUA"))
