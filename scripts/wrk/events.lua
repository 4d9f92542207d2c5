-- POST /v1/events with batches of 1,000 events, each with a unique event id.
local counter = 0
local tag = tostring(math.random(1, 1e9))
setup = function(thread) thread:set("tag", tostring(math.random(1, 1e9))) end
request = function()
  counter = counter + 1
  local parts = {}
  for k = 1, 1000 do
    parts[k] = string.format('{"event_id":"w%s-%d-%d","user_id":"u%d","item_id":"i%d","type":"view"}',
      tag, counter, k, math.random(1, USERS), math.random(1, ITEMS))
  end
  return wrk.format("POST", "/v1/events", {["content-type"] = "application/json"}, "[" .. table.concat(parts, ",") .. "]")
end
