-- GET /v1/users/{id}/recommendations?n=10&category=C for random known users and categories.
-- CATEGORIES is prepended by scripts/bench_server.sh from the running catalog.
math.randomseed(os.time())
request = function()
  local u = math.random(1, USERS)
  local c = CATEGORIES[math.random(1, #CATEGORIES)]
  return wrk.format("GET", "/v1/users/u" .. u .. "/recommendations?n=10&category=" .. c)
end
