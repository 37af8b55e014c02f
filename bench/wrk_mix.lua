-- wrk script for the peak-throughput run: the load benchmark's mix, a fresh Idempotency-Key per POST.
-- wrk -t1 -cN -dDs --latency -s bench/wrk_mix.lua http://127.0.0.1:PORT -- <api key>
-- 60% POST /v1/payments, 30% GET /v1/payments/{id} of a payment this thread created, 10% list.
-- done() prints one line: WRK_RESULT {json}.

local threads = {}

function setup(thread)
  thread:set("thread_id", #threads + 1)
  table.insert(threads, thread)
end

local api_key = ""
local counter = 0
local created = {}
local created_count = 0
local MAX_CREATED = 5000
local BODY = '{"amount":1050,"currency":"GBP","reference":"wrk",'
  .. '"card":{"number":"4242424242424291","expiry_month":4,"expiry_year":2030,"cvv":"123"}}'

function init(args)
  api_key = args[1] or ""
  math.randomseed(os.time() * 1000 + (thread_id or 0))
end

function request()
  counter = counter + 1
  local draw = math.random()
  local auth = "Bearer " .. api_key
  if draw < 0.6 or created_count == 0 then
    local key = string.format("wrk-%d-%d-%d-%d", thread_id or 0, os.time(), counter, math.random(1000000000))
    return wrk.format("POST", "/v1/payments",
      { ["Authorization"] = auth, ["Content-Type"] = "application/json", ["Idempotency-Key"] = key }, BODY)
  elseif draw < 0.9 then
    local id = created[math.random(math.min(created_count, MAX_CREATED))]
    return wrk.format("GET", "/v1/payments/" .. id, { ["Authorization"] = auth })
  end
  return wrk.format("GET", "/v1/payments?limit=20", { ["Authorization"] = auth })
end

function response(status, headers, body)
  if status == 201 then
    local id = body:match('"id":%s*"(pay_[%w]+)"')
    if id then
      created_count = created_count + 1
      created[((created_count - 1) % MAX_CREATED) + 1] = id
    end
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_RESULT {"requests":%d,"duration_us":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,'
      .. '"non_2xx_3xx":%d,"connect":%d,"read":%d,"write":%d,"timeout":%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, e.status, e.connect, e.read, e.write, e.timeout))
end
