-- Indexing, ordering, scans and rearrangements: gradchecks of every
-- differentiable one (values against PyTorch are ops_fixtures_spec's),
-- plain-Lua oracles on strided inputs, x[mask] / x[ids] / x[mask] = v,
-- integer and bool inputs, and the errors.
local lu = require "luaunit"
local lunet = require "lunet"
local H = require "helpers"

local function I(t) return lunet.tensor(t, { dtype = "int64" }) end

TestIndexGrad = {}

function TestIndexGrad:setUp() lunet.manual_seed(21) end

function TestIndexGrad:test_gather_scatter_index()
  local x = H.leaf(lunet.randn{ 3, 4 })
  local src = H.leaf(lunet.randn{ 3, 3 })
  local idx = I{ { 1, 4 }, { 2, 2 }, { 3, 1 } }
  H.gradcheck(function(x) return x:gather(2, idx) end, { x })
  H.gradcheck(function(x) return x:gather(1, I{ { 3, 1, 2, 2 } }) end, { x })
  H.gradcheck(function(x, s) return x:scatter(2, I{ { 1, 4 }, { 3, 2 }, { 4, 1 } }, s) end, { x, src })
  H.gradcheck(function(x, s) return x:scatter_add(2, idx, s) end, { x, src })
  H.gradcheck(function(x) return x:index_select(2, I{ 4, 1, 4 }) end, { x })
  H.gradcheck(function(x, s) return x:index_add(2, I{ 2, 2, 4 }, s) end, { x, src })
  H.gradcheck(function(x) return x:masked_select(x:detach():gt(0)) end, { x })
  local ms = H.leaf(lunet.randn{ 12 })
  H.gradcheck(function(x, s) return x:masked_scatter(lunet.tensor{ true, false, true, true }, s) end,
              { x, ms })
  -- strided inputs
  local xt = H.leaf(lunet.randn{ 4, 3 }:t())
  H.gradcheck(function(x) return x:gather(2, idx) end, { xt })
  H.gradcheck(function(x) return x:index_select(1, I{ 3, 1 }) end, { xt })
end

function TestIndexGrad:test_order_and_scans()
  -- well separated values, so finite differences never swap an order
  local x = H.leaf(lunet.tensor{ { 0.5, -2, 3, 1.2 }, { -1, 2.4, 0.1, -3 } })
  H.gradcheck(function(x) return (x:sort(2)) end, { x })
  H.gradcheck(function(x) return (x:sort(1, true)) end, { x })
  H.gradcheck(function(x) return (x:topk(2, 2)) end, { x })
  H.gradcheck(function(x) return x:cumsum(2) end, { x })
  H.gradcheck(function(x) return x:cumsum(1) end, { x })
  H.gradcheck(function(x) return x:cumprod(2) end, { x })
  local z = H.leaf(lunet.tensor{ { 1.5, 0, 2, -1 }, { 0, 1.1, 0, 2 } })   -- zeros: the direct sum
  H.gradcheck(function(x) return x:cumprod(2) end, { z })
end

function TestIndexGrad:test_rearrangements()
  local x = H.leaf(lunet.randn{ 2, 3, 4 })
  H.gradcheck(function(x) return x:tril() end, { x })
  H.gradcheck(function(x) return x:triu(-1) end, { x })
  H.gradcheck(function(x) return x:flip{ 1, 3 } end, { x })
  H.gradcheck(function(x) return x:roll({ 1, 5 }, { 2, 3 }) end, { x })
  H.gradcheck(function(x) return x:roll(-4) end, { x })
  H.gradcheck(function(x) return x:repeat_tensor(1, 2, 1, 2) end, { x })
  H.gradcheck(function(x) return x:tile(2, 1) end, { x })
  H.gradcheck(function(x) return x:floor() + x:round() * x end, { x })   -- floor's gradient is 0
end

function TestIndexGrad:test_fmod_remainder()
  local a = H.leaf(lunet.tensor{ { 5.3, -5.3, 2.2 }, { -7.9, 7.7, 1.1 } })
  local b = H.leaf(lunet.tensor{ 2.1, -1.7, 0.6 })
  H.gradcheck(function(a, b) return lunet.fmod(a, b) end, { a, b })
  H.gradcheck(function(a, b) return a % b end, { a, b })
end

TestIndexValues = {}

function TestIndexValues:setUp() lunet.manual_seed(22) end

function TestIndexValues:test_against_plain_lua()
  local x = lunet.randn{ 4, 3 }:t()                                -- strided {3,4}
  local v = x:totable()
  local g = x:gather(2, I{ { 4, 1 }, { 2, 2 }, { 1, 3 } })
  lu.assertEquals(g:totable(), { { v[1][4], v[1][1] }, { v[2][2], v[2][2] }, { v[3][1], v[3][3] } })
  local s = x:index_select(2, I{ 3, 3, 1 })
  for r = 1, 3 do lu.assertEquals(s:totable()[r], { v[r][3], v[r][3], v[r][1] }) end
  local sorted, idx = x:sort(2)
  for r = 1, 3 do
    for c = 1, 4 do lu.assertEquals(sorted:get{ r, c }, v[r][idx:get{ r, c }]) end
    for c = 2, 4 do lu.assertTrue(sorted:get{ r, c - 1 } <= sorted:get{ r, c }) end
  end
  local cs = x:cumsum(2):totable()
  for r = 1, 3 do
    local acc = 0
    for c = 1, 4 do acc = acc + v[r][c]; lu.assertAlmostEquals(cs[r][c], acc, 1e-5) end
  end
end

function TestIndexValues:test_sort_is_stable_and_nan_last()
  local x = lunet.tensor{ 2, 0 / 0, 1, 2, 1 }
  local v, i = x:sort()
  lu.assertEquals(i:totable(), { 3, 5, 1, 4, 2 })                  -- ties keep their order
  lu.assertEquals(v[5] ~= v[5], true)
  _, i = x:sort(1, true)
  lu.assertEquals(i:totable(), { 2, 1, 4, 3, 5 })                  -- NaN first when descending
  lu.assertEquals(x:argsort{ descending = true }:totable(), { 2, 1, 4, 3, 5 })
  v, i = I{ 5, -1, 5, 3 }:sort()
  lu.assertEquals(v:totable(), { -1, 3, 5, 5 })
  lu.assertEquals(v.dtype, "int64")
  v, i = I{ 5, -1, 5, 3 }:topk(2)
  lu.assertEquals(v:totable(), { 5, 5 })
  lu.assertEquals(i:totable(), { 1, 3 })
  v, i = lunet.tensor{ 4, 1, 3 }:topk(2, { largest = false })
  lu.assertEquals(i:totable(), { 2, 3 })
end

function TestIndexValues:test_any_dtype_rearranges()
  local m = lunet.ones({ 3, 3 }, { dtype = "bool" }):tril()
  lu.assertEquals(m:totable(), { { true, false, false }, { true, true, false }, { true, true, true } })
  lu.assertEquals(I{ 1, 2, 3 }:flip(1):totable(), { 3, 2, 1 })
  lu.assertEquals(I{ 1, 2, 3 }:roll(1):totable(), { 3, 1, 2 })
  lu.assertEquals(I{ 1, 2 }:tile(2):totable(), { 1, 2, 1, 2 })
  lu.assertEquals(I{ { 1, 2 } }:repeat_tensor(2, 1):totable(), { { 1, 2 }, { 1, 2 } })
  lu.assertEquals(lunet.Tensor["repeat"](I{ 7 }, 3):totable(), { 7, 7, 7 })
  lu.assertEquals(I{ 1, 2, 3 }:cumprod(1):totable(), { 1, 2, 6 })
  lu.assertEquals(I{ 4, 5 }:gather(1, I{ 2, 2, 1 }):totable(), { 5, 5, 4 })
  lu.assertEquals(I{ 0, 0, 0 }:scatter(1, I{ 3 }, 9):totable(), { 0, 0, 9 })
  lu.assertEquals(I{ 0, 0 }:scatter_add(1, I{ 2, 2, 2 }, I{ 1, 2, 3 }):totable(), { 0, 6 })
  lu.assertEquals(I{ 1, 2, 3 }:masked_select(lunet.tensor{ true, false, true }):totable(), { 1, 3 })
  lu.assertEquals(lunet.zeros{ 0, 3 }:sort(2):shape(), { 0, 3 })
  lu.assertEquals(lunet.zeros{ 3 }:repeat_tensor(0):shape(), { 0 })
end

TestIndexSubscript = {}

function TestIndexSubscript:test_mask_read_and_write()
  local x = lunet.tensor{ { 1, -2 }, { -3, 4 } }
  lu.assertEquals(x[x:gt(0)]:totable(), { 1, 4 })
  x[x:lt(0)] = 0
  lu.assertEquals(x:totable(), { { 1, 0 }, { 0, 4 } })
  x[x:eq(0)] = lunet.tensor{ 7, 8 }                               -- as many as selected
  lu.assertEquals(x:totable(), { { 1, 7 }, { 8, 4 } })
  x[x:gt(5)] = lunet.tensor{ -1 }                                 -- one element fills
  lu.assertEquals(x:totable(), { { 1, -1 }, { -1, 4 } })
  -- a mask of fewer dims selects along x's leading dims, as in PyTorch:
  -- whole rows, {count, ...}; read, filled, or written a row for each or
  -- one row for all
  local rows = lunet.tensor{ { 1, 2 }, { 3, 4 }, { 5, 6 } }
  local m = lunet.tensor{ true, false, true }
  lu.assertEquals(rows[m]:totable(), { { 1, 2 }, { 5, 6 } })
  lu.assertEquals(rows[lunet.tensor{ false, false, false }]:shape(), { 0, 2 })
  lu.assertEquals(lunet.zeros{ 3, 0 }[m]:shape(), { 2, 0 })        -- the count is the mask's
  rows[m] = lunet.tensor{ { 7, 8 }, { 9, 10 } }
  lu.assertEquals(rows:totable(), { { 7, 8 }, { 3, 4 }, { 9, 10 } })
  rows[m] = lunet.tensor{ 0, -1 }                                 -- one row for every row
  lu.assertEquals(rows:totable(), { { 0, -1 }, { 3, 4 }, { 0, -1 } })
  rows[m] = 5
  lu.assertEquals(rows:totable(), { { 5, 5 }, { 3, 4 }, { 5, 5 } })
  local cube = lunet.arange(1, 25):view(2, 3, 4)
  local picked = cube[lunet.tensor{ { true, false, true }, { false, false, true } }]
  lu.assertEquals(picked:shape(), { 3, 4 })
  lu.assertEquals(picked:totable(), { cube[1][1]:totable(), cube[1][3]:totable(), cube[2][3]:totable() })
  -- a mask that only broadcasts is refused, as PyTorch does (masked_select
  -- and masked_fill are the broadcasting forms)
  H.raises("index: a mask of shape {2,1} does not match the leading dims of {2,2}",
           function() return x[lunet.tensor{ { true }, { false } }] end)
end

function TestIndexSubscript:test_row_mask_gradients()
  local m = lunet.tensor{ true, false, true }
  H.gradcheck(function(w) return (w[m] * w[m]):sum() end, { H.leaf(lunet.randn{ 3, 2 }) })
  H.gradcheck(function(w, v)
    local y = w * 1
    y[m] = v
    return (y * y):sum()
  end, { H.leaf(lunet.randn{ 3, 2 }), H.leaf(lunet.randn{ 2, 2 }) })
end

function TestIndexSubscript:test_ids_read_rows()
  local x = lunet.tensor{ { 1, 2 }, { 3, 4 }, { 5, 6 } }
  lu.assertEquals(x[I{ 3, 1 }]:totable(), { { 5, 6 }, { 1, 2 } })
  lu.assertEquals(x[I{ { 2 }, { 2 } }]:shape(), { 2, 1, 2 })
  H.raises("index: a float32 tensor cannot index", function() return x[lunet.tensor{ 1 }] end)
  H.raises("index_select: index 4 out of range for dim 1 of size 3", function() return x[I{ 4 }] end)
end

function TestIndexSubscript:test_mask_write_records_gradients()
  local w = H.leaf(lunet.randn{ 4 })
  H.gradcheck(function(w)
    local y = w * 1
    y[lunet.tensor{ true, false, true, false }] = 0
    return y * w
  end, { w })
end

TestIndexErrors = {}

function TestIndexErrors:test_messages_name_the_op_and_values()
  local x = lunet.zeros{ 2, 3 }
  H.raises("gather: index 4 out of range for dim 2 of size 3", x.gather, x, 2, I{ { 4 }, { 1 } })
  H.raises("gather: index 0 out of range for dim 2 of size 3 (indices are 1-based)",
           x.gather, x, 2, I{ { 0 }, { 1 } })
  H.raises("gather: indices must be integers, got 1.5", x.gather, x, 2, lunet.tensor{ { 1.5 }, { 1 } })
  H.raises("gather: index {3,1} does not fit input {2,3} along dim 2", x.gather, x, 2, I{ { 1 }, { 1 }, { 1 } })
  H.raises("gather: dim 3 out of range for a 2-d tensor", x.gather, x, 3, I{ { 1 } })
  H.raises("index_select: index must be 1-d, got 2 dims", x.index_select, x, 1, I{ { 1 } })
  H.raises("index_add: src has shape {2,2}, expected {2,1}", x.index_add, x, 2, I{ 1 }, lunet.zeros{ 2, 2 })
  H.raises("masked_scatter: the mask selects 6 elements, src has only 2",
           x.masked_scatter, x, lunet.tensor{ true, true, true }, lunet.zeros{ 2 })
  H.raises("masked_select: shapes {2,3} and {2} do not broadcast", x.masked_select, x, lunet.tensor{ true, false })
  H.raises("tril: needs at least 2 dims, got 1", lunet.zeros{ 3 }.tril, lunet.zeros{ 3 })
  H.raises("flip: dim 1 repeated", x.flip, x, { 1, 1 })
  H.raises("roll: 2 shifts for 1 dims", x.roll, x, { 1, 2 }, 1)
  H.raises("repeat: 1 repeats given for a 2-d tensor", x.repeat_tensor, x, 2)
  H.raises("topk: k 4 out of range for a dim of size 3", x.topk, x, 4)
  H.raises("sort: unknown option 'decending' (did you mean 'descending'?)", x.sort, x, { decending = true })
  H.raises("cumsum: dim required", x.cumsum, x)
  H.raises("index assignment: only a bool mask can be assigned through", function() x[I{ 1 }] = 0 end)
  -- x[mask] = v: v fills (one element) or has exactly the selected count
  -- ({n}, leading 1s allowed), as PyTorch's index_put_ wants; at the
  -- assignment's line
  local m = lunet.tensor{ { true, false, true }, { false, true, true } }  -- selects 4 of x's 6
  H.raises_here("index assignment: the mask selects 4 elements, got a tensor of shape {5}", function() x[m] = lunet.ones{ 5 } end)
  H.raises_here("index assignment: the mask selects 4 elements, got a tensor of shape {2,2}", function() x[m] = lunet.ones{ 2, 2 } end)
  H.raises_here("index assignment: the mask selects 4 elements, got a tensor of shape {4,1}", function() x[m] = lunet.ones{ 4, 1 } end)
  H.raises_here("index assignment: the mask selects {1,3}, got a tensor of shape {2}", function() x[lunet.tensor{ true, false }] = lunet.ones{ 2 } end)
  H.raises_here("index assignment: a mask of shape {3} does not match the leading dims of {2,3}", function() x[lunet.tensor{ true, false, true }] = 1 end)
  H.raises_here("index assignment: value must be a number, got string", function() x[m] = "a" end)
  H.raises_here("index assignment: index 3 out of range for dim 1 of size 2", function() x[{ 3, 1 }] = 1 end)
  lu.assertEquals(x:totable(), { { 0, 0, 0 }, { 0, 0, 0 } })        -- nothing written
  x[m] = lunet.tensor{ { 1, 2, 3, 4 } }
  lu.assertEquals(x:totable(), { { 1, 0, 2 }, { 0, 3, 4 } })
  x[m] = lunet.tensor{ { 9 } }
  lu.assertEquals(x:totable(), { { 9, 0, 9 }, { 0, 9, 9 } })
  x[lunet.zeros({ 2, 3 }, { dtype = "bool" })] = lunet.zeros{ 0 }   -- selects none: {0} fits
  H.raises("scatter_add: bool tensors do not add", function()
    return lunet.zeros({ 2 }, { dtype = "bool" }):scatter_add(1, I{ 1 }, lunet.tensor{ true })
  end)
end
