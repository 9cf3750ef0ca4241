-- wrk script of `make bench`: the API token, then per request either the same GET (BENCH_MODE=get),
-- a period never asked before (unique: a cache miss every time) or a transaction POST (create).
-- Prints one JSON line of results.
local token = os.getenv("BENCH_TOKEN")
local mode = os.getenv("BENCH_MODE") or "get"
-- Distinct for every wrk run of a benchmark (bench/run.py), so no period repeats across runs either.
local sequence_base = tonumber(os.getenv("BENCH_SEQUENCE") or "0")
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

local day = 86400
local first_from = os.time({year = 2000, month = 1, day = 1, hour = 12})
local first_to = os.time({year = 2027, month = 1, day = 1, hour = 12})

function request()
  counter = counter + 1
  if mode == "unique" then
    -- A period that covers every transaction (from 2000-2009 to 2027 or later), never the same twice:
    -- n picks one of 3,650 first days and the last day from n's quotient.
    local n = sequence_base + thread_number * 50000 + counter
    local date_from = os.date("!%Y-%m-%d", first_from + (n % 3650) * day)
    local date_to = os.date("!%Y-%m-%d", first_to + math.floor(n / 3650) * day)
    return wrk.format(nil, wrk.path .. "?date_from=" .. date_from .. "&date_to=" .. date_to)
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
