-- wrk script for benchmarks/serving.py: PUT ratings, each one a new (user, movie) pair, so the
-- number of accepted requests must equal the new ratings and the new events in the database.
-- Users are w0..w($BENCH_USERS - 1) (created beforehand); movies come from the file $BENCH_MOVIES.
-- Paths start with $BENCH_PREFIX: /api/v1 for movierec's API, /bench for the bare write.
local movies = {}
for line in io.lines(os.getenv("BENCH_MOVIES")) do
  movies[#movies + 1] = line
end
local users = tonumber(os.getenv("BENCH_USERS"))
local prefix = os.getenv("BENCH_PREFIX") or "/api/v1"
local counter = 0
wrk.method = "PUT"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_KEY")

function request()
  local user = counter % users
  local movie = movies[math.floor(counter / users) % #movies + 1]
  local stars = (counter % 10 + 1) / 2
  counter = counter + 1
  return wrk.format(nil, prefix .. "/users/w" .. user .. "/ratings/" .. movie, nil,
    string.format('{"rating": %.1f}', stars))
end

dofile(os.getenv("BENCH_RESULT_LUA"))
