-- wrk script of `make bench`: the API token, an optional unique period per request (a cache miss
-- every time) or a transaction POST, and one JSON line of results.
local token = os.getenv("BENCH_TOKEN")
local mode = os.getenv("BENCH_MODE") or "get"
local threads = {}
local counter = 0

function setup(thread)
  table.insert(threads, thread)
  thread:set("thread_number", #threads)
end

function init(args)
  wrk.headers["Authorization"] = "Token " .. token
  if mode == "create" then
    wrk.method = "POST"
    wrk.headers["Content-Type"] = "application/json"
  end
  math.randomseed(os.time() + thread_number)
end

local first_day = os.time({year = 2030, month = 1, day = 1, hour = 12})

function request()
  counter = counter + 1
  if mode == "unique" then
    -- A date_to after every transaction, never the same twice: the whole history, uncached.
    local day = first_day + (thread_number * 1000000 + counter) * 86400
    return wrk.format(nil, wrk.path .. "?date_to=" .. os.date("!%Y-%m-%d", day))
  elseif mode == "create" then
    local body = string.format(
      '{"user_id": %d, "full_name": "Bench User %d", "transaction_date": "2026-01-15T10:00:00Z", ' ..
      '"transaction_amount": "%d.%02d", "transaction_type": "%s"}',
      200000 + math.random(1, 5000), counter, math.random(1, 500), math.random(0, 99),
      math.random() < 0.5 and "credit" or "debit")
    return wrk.format(nil, nil, nil, body)
  end
  return wrk.format(nil)
end

function done(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "duration_us": %d, "socket_errors": %d, "non_2xx": %d, "p50_us": %d, "p99_us": %d}\n',
    summary.requests, summary.duration, errors.connect + errors.read + errors.write + errors.timeout,
    errors.status, latency:percentile(50), latency:percentile(99)))
end
