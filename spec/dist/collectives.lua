-- Run by distributed_spec.lua under mpirun (2 or 3 ranks): every
-- collective of lunet.distributed against values worked out here, on
-- every rank.  A wrong value is an error (so mpirun fails); each rank
-- ends by printing "collectives ok on rank R of N".
local dist = require "lunet.distributed"
local rank, n = dist.init()
assert(dist.backend() == "mpi", "backend " .. tostring(dist.backend()))
assert(dist.rank() == rank and dist.world_size() == n)

local function check(cond, what, ...)
  if not cond then error(string.format("rank %d: " .. what, rank, ...), 2) end
end
local function values(t) return table.concat(t:totable(), ",") end
-- the tensor's values are exactly those of the list
local function same(t, list)
  local v = t:totable()
  if #v ~= #list then return false end
  for i = 1, #list do if v[i] ~= list[i] then return false end end
  return true
end

-- 1 + 2 + ... + n, and the like
local sum, sq = n * (n + 1) // 2, 0
for r = 1, n do sq = sq + r * r end

local t = lunet.tensor { rank + 1, -(rank + 1), 0.5 }
check(dist.all_reduce(t) == t, "all_reduce returns its tensor")
check(same(t, { sum, -sum, 0.5 * n }), "sum: %s", values(t))

-- (a list, not pairs: every rank must make the same calls in the same order,
-- and pairs' order can differ from one process to the next)
for _, case in ipairs { { "max", n, -1 }, { "min", 1, -n }, { "mean", sum / n, -sum / n } } do
  local op, want = case[1], { case[2], case[3] }
  local x = lunet.tensor { rank + 1, -(rank + 1) }
  dist.all_reduce(x, op)
  check(math.abs(x[1] - want[1]) < 1e-6 and math.abs(x[2] - want[2]) < 1e-6, "%s: %s", op, values(x))
end

-- a list: one message, each tensor reduced in place, shapes kept
local a, b = lunet.full({ 2, 3 }, rank + 1), lunet.full({ 5 }, (rank + 1) ^ 2)
dist.all_reduce({ a, b }, "sum")
check(a:sum():item() == 6 * sum and b:sum():item() == 5 * sq, "list sum %s %s", values(a:view(-1)), values(b))
check(#a:shape() == 2 and a:size(2) == 3, "list kept shapes")

-- a reduced tensor's version moved on: a backward that saved it refuses
local w = lunet.ones({ 3 }, { requires_grad = true })
local z = lunet.ones({ 3 })
local y = (w * z):sum()
dist.all_reduce(z)
check(not pcall(function() y:backward() end), "a backward through a reduced tensor must refuse")

-- broadcast: any dtype, any root, lists
for root = 0, n - 1 do
  local ids = lunet.tensor({ rank, rank * 10 }, { dtype = "int64" })
  dist.broadcast(ids, root)
  check(ids.dtype == "int64" and same(ids, { root, root * 10 }), "broadcast from %d: %s", root, values(ids))
end
local p, q = lunet.full({ 4 }, rank), lunet.full({ 2, 2 }, -rank)
dist.broadcast({ p, q }, n - 1)
check(same(p, { n - 1, n - 1, n - 1, n - 1 }) and same(q:view(-1), { 1 - n, 1 - n, 1 - n, 1 - n }),
      "list broadcast %s", values(p))

-- Lua values
local all = dist.all_gather { rank = rank, name = "r" .. rank, third = rank / 3, nested = { 1, { rank } } }
check(#all == n, "all_gather gives %d values", #all)
for r = 0, n - 1 do
  local v = all[r + 1]
  check(v.rank == r and math.type(v.rank) == "integer" and v.name == "r" .. r and v.third == r / 3
        and v.nested[2][1] == r, "all_gather value of rank %d", r)
end
local g = dist.gather(rank * 2, n - 1)
if rank == n - 1 then
  check(#g == n and g[1] == 0 and g[n] == 2 * (n - 1), "gather on the root")
else
  check(g == nil, "gather gives nil off the root")
end
local o = dist.broadcast_object({ from = rank, big = string.rep("x", 100000), inf = 1 / 0 }, 1)
check(o.from == 1 and #o.big == 100000 and o.inf == math.huge, "broadcast_object")

-- errors are Lua errors on the rank that makes them, before any message
check(not pcall(dist.all_reduce, lunet.ones { 2 }:long(), "sum"), "int64 all_reduce refused")
check(not pcall(dist.all_reduce, lunet.ones { 2, 3 }:t(), "sum"), "non-contiguous refused")
check(not pcall(dist.broadcast, lunet.ones { 2 }, n), "root out of range refused")
check(not pcall(dist.all_gather, print), "a function cannot travel")

dist.barrier()
print(string.format("collectives ok on rank %d of %d", rank, n))
