-- The soak's mixed load (scripts/soak.sh prepends the globals below from the running server):
--   USERS, ITEMS         ids u1..uUSERS and i1..iITEMS are drawn at random
--   CATEGORIES           URL-encoded category names (GET filters)
--   CATEGORIES_JSON      the same names as JSON strings (POST filters)
--   MIX                  weights {recs=, recs_filtered=, similar=, popular=, session=, events=}
--   EVENT_BATCH          events per POST /v1/events
--   RUN_TAG              makes event ids unique across runs on one store
-- Every thread counts responses by status; done() prints "STATUS <code> <count>" lines, the
-- socket errors and the latency percentiles, which soak.sh parses.

local kinds = {}
local order = { "recs", "recs_filtered", "similar", "popular", "session", "events" }
local total_weight = 0
for _, k in ipairs(order) do
  local w = (MIX and MIX[k]) or 0
  if w > 0 then
    total_weight = total_weight + w
    kinds[#kinds + 1] = { name = k, upto = total_weight }
  end
end

local event_types = { "view", "view", "view", "view", "view", "click", "click", "add_to_cart", "purchase" }
local windows = { "1h", "24h", "7d", "30d", "all" }
local json = { ["content-type"] = "application/json" }

local threads = {}
local thread_no = 0

setup = function(thread)
  thread_no = thread_no + 1
  thread:set("tid", thread_no)
  threads[#threads + 1] = thread
end

statuses = {}
local counter = 0

local phase = ""
init = function(args)
  phase = args[1] or ""   -- soak.sh passes "warmup" or "run": ids stay unique across wrk runs
  math.randomseed(os.time() * 100 + (tid or 0) * 7919)
end

local function user() return "u" .. math.random(1, USERS) end
local function item() return "i" .. math.random(1, ITEMS) end

local builders = {
  recs = function()
    return wrk.format("GET", "/v1/users/" .. user() .. "/recommendations?n=10")
  end,
  recs_filtered = function()
    local path = "/v1/users/" .. user() .. "/recommendations?n=10"
    local r = math.random(1, 3)
    if r ~= 2 then path = path .. "&category=" .. CATEGORIES[math.random(1, #CATEGORIES)] end
    if r ~= 1 then path = path .. "&in_stock=true" end
    return wrk.format("GET", path)
  end,
  similar = function()
    return wrk.format("GET", "/v1/items/" .. item() .. "/similar?n=10")
  end,
  popular = function()
    return wrk.format("GET", "/v1/popular?n=10&window=" .. windows[math.random(1, #windows)])
  end,
  session = function()
    local items = {}
    for k = 1, math.random(1, 5) do items[k] = '"' .. item() .. '"' end
    local filters = ""
    if math.random(1, 2) == 1 then
      filters = ',"filters":{"category":' .. CATEGORIES_JSON[math.random(1, #CATEGORIES_JSON)] .. ',"in_stock":true}'
    end
    return wrk.format("POST", "/v1/recommendations", json,
      '{"session_items":[' .. table.concat(items, ",") .. '],"n":10' .. filters .. '}')
  end,
  events = function()
    counter = counter + 1
    local parts = {}
    for k = 1, EVENT_BATCH do
      parts[k] = string.format('{"event_id":"soak-%s%s-%d-%d-%d","user_id":"%s","item_id":"%s","type":"%s"}',
        RUN_TAG, phase, tid or 0, counter, k, user(), item(), event_types[math.random(1, #event_types)])
    end
    return wrk.format("POST", "/v1/events", json, "[" .. table.concat(parts, ",") .. "]")
  end,
}

request = function()
  local r = math.random() * total_weight
  for _, k in ipairs(kinds) do
    if r < k.upto then return builders[k.name]() end
  end
  return builders[kinds[#kinds].name]()
end

response = function(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

done = function(summary, latency, requests)
  local all = {}
  for _, t in ipairs(threads) do
    local s = t:get("statuses")
    if s then
      for code, n in pairs(s) do all[code] = (all[code] or 0) + n end
    end
  end
  for code, n in pairs(all) do io.write(string.format("STATUS %d %d\n", code, n)) end
  local e = summary.errors
  io.write(string.format("REQUESTS %d\n", summary.requests))
  io.write(string.format("SECONDS %.1f\n", summary.duration / 1e6))
  io.write(string.format("SOCKET_ERRORS connect=%d read=%d write=%d timeout=%d\n",
    e.connect, e.read, e.write, e.timeout))
  for _, p in ipairs({ 50, 90, 99, 99.9 }) do
    io.write(string.format("LATENCY_MS p%s %.2f\n", tostring(p), latency:percentile(p) / 1000))
  end
  io.write(string.format("LATENCY_MS max %.2f\n", latency.max / 1000))
end
