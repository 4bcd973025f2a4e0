-- wrk script for scripts/bench-mesh.sh: POST a Hasura INSERT (users or orders, by
-- BENCH_TABLE) with a unique event id, user or order id per request, signed with the
-- secret header (BENCH_HASURA_SECRET). Ids carry BENCH_RUN so runs never collide.
local threads = 0
local run = tonumber(os.getenv("BENCH_RUN") or "") or os.time()
setup = function(thread)
  threads = threads + 1
  thread:set("tid", threads)
end

local n = 0
local secret = os.getenv("BENCH_HASURA_SECRET")
local tbl = os.getenv("BENCH_TABLE") or "users"

request = function()
  n = n + 1
  local id = string.format("%08x-%04x-4000-8000-%012x", run, tid, n)
  local key = tid * 10000000 + n
  local new
  if tbl == "orders" then
    new = '{"id":' .. key .. ',"customer_id":' .. (key % 5000 + 1) .. ',"status":"pending",' ..
      '"items":[{"sku":"TSHIRT-BLK-M","quantity":2,"price":19.0},{"sku":"MUG-LOGO","quantity":1,"price":12.0}],' ..
      '"total":50.0,"created_at":"2026-11-26T10:00:00Z"}'
  else
    new = '{"id":' .. key .. ',"email":"u' .. key .. '@example.com","name":"User ' .. key .. '",' ..
      '"registration_method":"email","created_at":"2026-11-26T10:00:00Z"}'
  end
  local body = '{"id":"' .. id .. '","created_at":"2026-11-26T10:00:00.123456",' ..
    '"table":{"schema":"public","name":"' .. tbl .. '"},"trigger":{"name":"' .. tbl .. '_all"},' ..
    '"delivery_info":{"current_retry":0,"max_retries":3},' ..
    '"event":{"op":"INSERT","session_variables":{"x-hasura-role":"admin"},"trace_context":null,' ..
    '"data":{"old":null,"new":' .. new .. '}}}'
  return wrk.format("POST", "/hooks/hasura",
    {["Content-Type"] = "application/json", ["X-Hasura-Webhook-Secret"] = secret}, body)
end

