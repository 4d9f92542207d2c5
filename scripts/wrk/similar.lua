-- GET /v1/items/{id}/similar?n=10 for random items.
math.randomseed(os.time() + 1)
request = function()
  return wrk.format("GET", "/v1/items/i" .. math.random(1, ITEMS) .. "/similar?n=10")
end
