-- wrk script: POST a Hasura users INSERT body with a unique event id per request.
-- The id carries the run's start time (or BENCH_RUN), so that the warm-up run and the
-- measured run (separate wrk processes) never send the same ids.
local threads = 0
local run = tonumber(os.getenv("BENCH_RUN") or "") or os.time()
setup = function(thread)
  threads = threads + 1
  thread:set("tid", threads)
end

local n = 0
local secret = os.getenv("BENCH_HASURA_SECRET") or "bench-secret"
local pad = string.rep("x", tonumber(os.getenv("BENCH_PAD") or "200"))

request = function()
  n = n + 1
  local id = string.format("%08x-%04x-4000-8000-%012x", run, tid, n)
  local body = '{"id":"' .. id .. '","created_at":"2026-11-26T10:00:00.123456",' ..
    '"table":{"schema":"public","name":"users"},"trigger":{"name":"users_all"},' ..
    '"delivery_info":{"current_retry":0,"max_retries":3},' ..
    '"event":{"op":"INSERT","session_variables":{"x-hasura-role":"admin"},"trace_context":null,' ..
    '"data":{"old":null,"new":{"id":' .. n .. ',"email":"u' .. n .. '@example.com","name":"' .. pad .. '"}}}}'
  return wrk.format("POST", "/hooks/hasura",
    {["Content-Type"] = "application/json", ["X-Hasura-Webhook-Secret"] = secret}, body)
end
