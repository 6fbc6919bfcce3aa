-- Reductions and the softmax family: values against plain Lua loops on
-- contiguous and strided inputs, shapes, numerical stability, error
-- messages, and gradchecks of every differentiable op.
local lu = require "luaunit"
local lunet = require "lunet"
local H = require "helpers"

local INF = math.huge

-- ---------------------------------------------------------------- oracles

-- the plain-loop reduction of x over dim (nil: everything) by rowfn,
-- which gets the row's values as a Lua list; keepdim as in lunet
local function naive(x, dim, keepdim, rowfn)
  local shape = x:shape()
  local nd = #shape
  if dim == nil then
    local vals = {}
    for idx in H.indices(shape) do vals[#vals + 1] = x:get(idx) end
    local v = rowfn(vals)
    if not keepdim then return v end
    local ones = {}
    for i = 1, nd do ones[i] = 1 end
    return H.build(ones, function() return v end)
  end
  local d = dim < 0 and dim + nd + 1 or dim
  local oshape = {}
  for i = 1, nd do
    if i ~= d then oshape[#oshape + 1] = shape[i]
    elseif keepdim then oshape[#oshape + 1] = 1 end
  end
  return H.build(oshape, function(oidx)
    local idx, k = {}, 1
    for i = 1, nd do
      if i == d then idx[i] = 1
        if keepdim then k = k + 1 end
      else idx[i] = oidx[k]; k = k + 1 end
    end
    local vals = {}
    for j = 1, shape[d] do idx[d] = j; vals[j] = x:get(idx) end
    return rowfn(vals)
  end)
end

-- the plain-loop row-wise map of x along dim by rowfn (list -> list)
local function naive_rows(x, dim, rowfn)
  local shape = x:shape()
  local d = dim < 0 and dim + #shape + 1 or dim
  local out = {}
  for idx in H.indices(shape) do
    if idx[d] == 1 then
      local vals, r = {}, {table.unpack(idx)}
      for j = 1, shape[d] do r[d] = j; vals[j] = x:get(r) end
      local ys = rowfn(vals)
      for j = 1, shape[d] do r[d] = j; out[table.concat(r, ",")] = ys[j] end
    end
  end
  return H.build(shape, function(idx) return out[table.concat(idx, ",")] end)
end

local function r_sum(v) local s = 0 for _, e in ipairs(v) do s = s + e end return s end
local function r_mean(v) return r_sum(v) / #v end
local function r_var(c)
  return function(v)
    local m, s = r_mean(v), 0
    for _, e in ipairs(v) do s = s + (e - m) ^ 2 end
    return s / math.max(0, #v - c)
  end
end
local function r_std(c) local f = r_var(c) return function(v) return math.sqrt(f(v)) end end
local function r_norm(p)
  return function(v)
    local s = 0
    for _, e in ipairs(v) do
      if p == INF then s = math.max(s, math.abs(e)) else s = s + math.abs(e) ^ p end
    end
    return p == INF and s or s ^ (1 / p)
  end
end
local function r_argext(v, ismin)
  local b = 1
  for i = 2, #v do
    if (ismin and v[i] < v[b]) or (not ismin and v[i] > v[b]) then b = i end
  end
  return b
end
local function r_max(v) return v[r_argext(v, false)] end
local function r_min(v) return v[r_argext(v, true)] end
local function r_argmax(v) return r_argext(v, false) end
local function r_argmin(v) return r_argext(v, true) end
local r_lse = H.logsumexp
local function r_softmax(v)
  local l, y = r_lse(v), {}
  for i, e in ipairs(v) do y[i] = math.exp(e - l) end
  return y
end
local function r_log_softmax(v)
  local l, y = r_lse(v), {}
  for i, e in ipairs(v) do y[i] = e - l end
  return y
end

-- the same 3-d values in four layouts: contiguous, transposed, narrowed,
-- expanded (stride 0)
local function layouts()
  lunet.manual_seed(7)
  return {
    contiguous = lunet.randn{3, 4, 5},
    transposed = lunet.randn{5, 4, 3}:transpose(1, 3),
    narrowed = lunet.randn{3, 7, 6}:narrow(2, 2, 4):narrow(3, 1, 5),
    expanded = lunet.randn{3, 1, 5}:expand{3, 4, 5},
  }
end

local DIMS = { false, 1, 2, 3, -1, -2, -3 }   -- false: no dim

local function shape_str(t) return "{" .. table.concat(t:shape(), ",") .. "}" end

-- check x:op(dim, keepdim) against naive over every layout, dim, keepdim
local function check_reduction(name, rowfn, call, tol)
  for lname, x in pairs(layouts()) do
    for _, dim in ipairs(DIMS) do
      for _, keepdim in ipairs{ false, true } do
        local got = call(x, dim or nil, keepdim)
        local want = naive(x, dim or nil, keepdim, rowfn)
        local what = string.format("%s %s dim=%s keepdim=%s", name, lname,
                                   tostring(dim), tostring(keepdim))
        H.assert_close(got, want, tol or 1e-5, what)
      end
    end
  end
end

-- ---------------------------------------------------------------- values

TestReduceValues = {}

function TestReduceValues:test_sum()
  check_reduction("sum", r_sum, function(x, d, k) return x:sum(d, k) end)
end

function TestReduceValues:test_mean()
  check_reduction("mean", r_mean, function(x, d, k) return x:mean(d, k) end)
end

function TestReduceValues:test_var_std()
  for _, c in ipairs{ 0, 1, 2 } do
    check_reduction("var", r_var(c), function(x, d, k)
      return x:var(d, { correction = c, keepdim = k }) end)
    check_reduction("std", r_std(c), function(x, d, k)
      return x:std(d, { correction = c, keepdim = k }) end)
  end
end

function TestReduceValues:test_var_default_correction_is_one()
  local x = lunet.tensor{ 1, 2, 3, 4 }
  H.assert_close(x:var(), 5 / 3)
  H.assert_close(x:std(), math.sqrt(5 / 3))
  H.assert_close(x:var{ correction = 0 }, 1.25)
  H.assert_close(lunet.var(x, 1, { keepdim = true }), { 5 / 3 })
end

function TestReduceValues:test_norm()
  for _, p in ipairs{ 2, 1, INF, 3, 0.5 } do
    check_reduction("norm p=" .. p, r_norm(p), function(x, d, k)
      return x:norm(p, d, k) end, 1e-4)
  end
  H.assert_close(lunet.tensor{ 3, -4 }:norm(), 5)
end

function TestReduceValues:test_logsumexp()
  check_reduction("logsumexp", r_lse, function(x, d, k) return x:logsumexp(d, k) end)
end

function TestReduceValues:test_max_min_values_and_indices()
  for _, case in ipairs{ { "max", r_max, r_argmax }, { "min", r_min, r_argmin } } do
    local op, vf, af = table.unpack(case)
    check_reduction(op, vf, function(x, d, k)
      return (x[op](x, d, k)) end)
    for lname, x in pairs(layouts()) do
      for _, dim in ipairs(DIMS) do
        if dim then
          for _, keepdim in ipairs{ false, true } do
            local _, idx = x[op](x, dim, keepdim)
            H.assert_close(idx, naive(x, dim, keepdim, af), 0,
                           op .. " indices " .. lname .. " dim " .. dim)
          end
        end
      end
    end
  end
end

function TestReduceValues:test_argmax()
  check_reduction("argmax", r_argmax, function(x, d, k)
    return x:argmax(d, k) end)   -- no dim: the flat index, in logical order
end

function TestReduceValues:test_argmax_flat_index_is_logical_order()
  local x = lunet.tensor{ { 1, 9, 2 }, { 3, 4, 5 } }
  lu.assertEquals(x:argmax():item(), 2)
  lu.assertEquals(x:t():argmax():item(), 3)          -- {{1,3},{9,4},{2,5}}
  lu.assertEquals(x:t():argmax(nil, true):shape(), { 1, 1 })
  lu.assertEquals(lunet.argmax(x, 2):totable(), { 2, 3 })
end

function TestReduceValues:test_ties_take_first_index()
  local v, i = lunet.tensor{ { 3, 1, 3 }, { 2, 2, 0 } }:max(2)
  lu.assertEquals(v:totable(), { 3, 2 })
  lu.assertEquals(i:totable(), { 1, 1 })
  v, i = lunet.tensor{ { 3, 1, 1 } }:min(-1)
  lu.assertEquals(i:totable(), { 2 })
end

function TestReduceValues:test_max_min_propagate_nan()
  local v, i = lunet.tensor{ { 1, 0 / 0, 3 } }:max(2)
  lu.assertNotEquals(v:item(), v:item())
  lu.assertEquals(i:totable(), { 2 })
  local m = lunet.tensor{ 1, 0 / 0, -3 }:min()
  lu.assertNotEquals(m:item(), m:item())
end

function TestReduceValues:test_softmax_log_softmax()
  for lname, x in pairs(layouts()) do
    for _, dim in ipairs{ 1, 2, 3, -1, -2 } do
      H.assert_close(x:softmax(dim), naive_rows(x, dim, r_softmax), 1e-5,
                     "softmax " .. lname .. " dim " .. dim)
      H.assert_close(x:log_softmax(dim), naive_rows(x, dim, r_log_softmax), 1e-5,
                     "log_softmax " .. lname .. " dim " .. dim)
    end
  end
end

-- rows long enough for the vectorized loops, their tails and logsumexp's
-- 256-element blocks
function TestReduceValues:test_long_rows()
  lunet.manual_seed(3)
  local x = lunet.randn{ 3, 613 } * 4
  H.assert_close(x:softmax(-1), naive_rows(x, -1, r_softmax), 1e-5, "softmax")
  H.assert_close(x:log_softmax(2), naive_rows(x, 2, r_log_softmax), 1e-5, "log_softmax")
  H.assert_close(x:logsumexp(2), naive(x, 2, false, r_lse), 1e-5, "logsumexp")
  H.assert_close(x:sum(2), naive(x, 2, false, r_sum), 1e-5, "sum")
  H.assert_close(x:max(2), naive(x, 2, false, r_max), 0, "max")
  H.assert_close(x:var(2), naive(x, 2, false, r_var(1)), 1e-5, "var")
  H.assert_close(x:norm(2, 2), naive(x, 2, false, r_norm(2)), 1e-5, "norm")
  local rows = x:softmax(2):sum(2):totable()
  for r = 1, 3 do lu.assertAlmostEquals(rows[r], 1, 1e-6) end
end

-- the softmax family takes rows a chunk at a time: many short rows span
-- several chunks, a row longer than a chunk needs heap scratch
function TestReduceValues:test_chunking()
  lunet.manual_seed(5)
  for _, shape in ipairs{ { 700, 1 }, { 300, 3 }, { 2, 3000 }, { 5, 2049 } } do
    local x = lunet.randn(shape) * 3
    local what = "{" .. table.concat(shape, ",") .. "}"
    H.assert_close(x:softmax(2), naive_rows(x, 2, r_softmax), 1e-5, "softmax " .. what)
    H.assert_close(x:log_softmax(2), naive_rows(x, 2, r_log_softmax), 1e-5, "log_softmax " .. what)
    H.assert_close(x:logsumexp(2), naive(x, 2, false, r_lse), 1e-5, "logsumexp " .. what)
  end
end

-- every element to a few float ulps, over exp's whole useful range (the
-- float rounding of x - max alone costs up to |x - max| * 6e-8, relative)
function TestReduceValues:test_softmax_precision()
  local vals = {}
  for i = 0, 239 do vals[#vals + 1] = -86 + i * 0.3583 end
  local x = lunet.tensor(vals)
  vals = x:totable()                   -- the float values, exactly
  local y, ly = x:softmax(1):totable(), x:log_softmax(1):totable()
  local want, wantl = r_softmax(vals), r_log_softmax(vals)
  for i = 1, #vals do
    local rel = math.abs(y[i] - want[i]) / want[i]
    lu.assertTrue(rel < 3e-7 + math.abs(vals[i]) * 6e-8,
                  string.format("softmax at %g: %.9g vs %.9g", vals[i], y[i], want[i]))
    lu.assertTrue(math.abs(ly[i] - wantl[i]) < 2e-7 * math.max(1, math.abs(wantl[i])),
                  string.format("log_softmax at %g: %.9g vs %.9g", vals[i], ly[i], wantl[i]))
  end
  lu.assertTrue(math.abs(x:logsumexp():item() - r_lse(vals)) < 1e-6, "logsumexp")
end

function TestReduceValues:test_module_functions()
  local x = lunet.tensor{ { 1, 2 }, { 3, 4 } }
  H.assert_close(lunet.sum(x), 10)
  H.assert_close(lunet.mean(x, 1), { 2, 3 })
  H.assert_close(lunet.softmax(x, 2), x:softmax(2))
  H.assert_close(lunet.log_softmax(x, 1), x:log_softmax(1))
  H.assert_close(lunet.logsumexp(x, 2, true), x:logsumexp(2, true))
  H.assert_close(lunet.norm(x, 1), 10)
  local v, i = lunet.max(x, 1)
  lu.assertEquals(v:totable(), { 3, 4 })
  lu.assertEquals(i:totable(), { 2, 2 })
  -- a plain table is taken as a tensor
  H.assert_close(lunet.sum{ 1, 2, 3 }, 6)
  H.assert_close(lunet.softmax({ 0, 0 }, 1), { 0.5, 0.5 })
end

-- ---------------------------------------------------------------- shapes

TestReduceShapes = {}

function TestReduceShapes:test_keepdim_shapes()
  local x = lunet.randn{ 2, 3, 4 }
  lu.assertEquals(x:sum():shape(), {})
  lu.assertEquals(x:sum(nil, true):shape(), { 1, 1, 1 })
  lu.assertEquals(x:sum(2):shape(), { 2, 4 })
  lu.assertEquals(x:sum(2, true):shape(), { 2, 1, 4 })
  lu.assertEquals(x:mean(-1, true):shape(), { 2, 3, 1 })
  lu.assertEquals(x:var(1):shape(), { 3, 4 })
  lu.assertEquals(x:std(3, { keepdim = true }):shape(), { 2, 3, 1 })
  lu.assertEquals(x:norm(2, 2, true):shape(), { 2, 1, 4 })
  lu.assertEquals(x:logsumexp(-2):shape(), { 2, 4 })
  lu.assertEquals(x:softmax(2):shape(), { 2, 3, 4 })
  lu.assertEquals(x:max():shape(), {})
  lu.assertEquals(x:min(nil, true):shape(), { 1, 1, 1 })
  local v, i = x:max(1, true)
  lu.assertEquals(v:shape(), { 1, 3, 4 })
  lu.assertEquals(i:shape(), { 1, 3, 4 })
  lu.assertEquals(x:argmax(3):shape(), { 2, 3 })
  lu.assertEquals(x:argmax():shape(), {})
end

function TestReduceShapes:test_max_without_dim_returns_one_value()
  local x = lunet.tensor{ { 1, 5 }, { 7, 2 } }
  local v, i = x:max()
  lu.assertEquals(v:item(), 7)
  lu.assertNil(i)
  lu.assertEquals(x:min():item(), 1)
end

function TestReduceShapes:test_zero_d_input()
  local s = lunet.tensor(3)
  lu.assertEquals(s:sum():item(), 3)
  lu.assertEquals(s:sum(1):item(), 3)
  lu.assertEquals(s:mean(-1, true):shape(), {})
  local v, i = s:max(1)
  lu.assertEquals(v:item(), 3)
  lu.assertEquals(i:item(), 1)
  lu.assertEquals(s:softmax(1):item(), 1)
end

function TestReduceShapes:test_empty_inputs()
  local e = lunet.zeros{ 0, 3 }
  lu.assertEquals(e:sum():item(), 0)
  lu.assertEquals(e:sum(1):totable(), { 0, 0, 0 })
  lu.assertEquals(e:sum(2):shape(), { 0 })
  local m = e:mean():item()
  lu.assertNotEquals(m, m)                            -- NaN, as in PyTorch
  lu.assertEquals(e:logsumexp(1):totable(), { -INF, -INF, -INF })
  lu.assertEquals(e:norm(2, 1):totable(), { 0, 0, 0 })
  lu.assertEquals(e:softmax(1):shape(), { 0, 3 })
  lu.assertEquals(e:max(2):shape(), { 0 })            -- no row is empty
end

-- ---------------------------------------------------------------- accuracy

TestReduceAccuracy = {}

-- float accumulation would be off by ~1%; the sums are in double
function TestReduceAccuracy:test_sum_of_a_million()
  local x = lunet.full({ 1000000 }, 0.1)
  local want = 1000000 * 0.100000001490116   -- the float nearest 0.1
  lu.assertTrue(math.abs(x:sum():item() - want) / want < 1e-6, "sum " .. x:sum():item())
  lu.assertTrue(math.abs(x:mean():item() - 0.1) < 1e-7, "mean")
  local a = lunet.arange(1, 1000001)
  local s = a:sum():item()
  lu.assertTrue(math.abs(s - 500000500000) / 500000500000 < 1e-6, "arange sum " .. s)
  -- down a column (the plane-accumulating path) and down a transposed row
  local c = lunet.full({ 200000, 2 }, 0.1):sum(1):totable()
  lu.assertTrue(math.abs(c[1] - 20000.0003) / 20000 < 1e-6, "column sum " .. c[1])
  local t = lunet.full({ 2, 200000 }, 0.1):t():sum(1):totable()
  lu.assertTrue(math.abs(t[2] - 20000.0003) / 20000 < 1e-6, "transposed sum " .. t[2])
end

-- a large offset must not swamp the variance (two passes, in double)
function TestReduceAccuracy:test_var_with_offset()
  local x = lunet.tensor{ 10000.5, 10001.5, 10002.5, 10003.5 }
  H.assert_close(x:var(), 5 / 3, 1e-6)
  H.assert_close(x:std(nil, { correction = 0 }), math.sqrt(1.25), 1e-6)
end

-- ---------------------------------------------------------------- stability

TestReduceStability = {}

function TestReduceStability:test_large_inputs()
  local x = lunet.tensor{ { 1e4, 1e4 }, { 1e4, 0 }, { -1e4, 0 } }
  H.assert_close(x:softmax(2), { { 0.5, 0.5 }, { 1, 0 }, { 0, 1 } })
  H.assert_close(x:log_softmax(2), { { -math.log(2), -math.log(2) }, { 0, -1e4 }, { -1e4, 0 } })
  H.assert_close(x:logsumexp(2), { 1e4 + math.log(2), 1e4, 0 })
  H.assert_close(lunet.tensor{ 100, 100 }:logsumexp(), 100 + math.log(2))
end

function TestReduceStability:test_minus_inf_entries()
  local x = lunet.tensor{ { -INF, 0, -INF }, { 1, -INF, 1 } }
  H.assert_close(x:softmax(2), { { 0, 1, 0 }, { 0.5, 0, 0.5 } })
  H.assert_close(x:log_softmax(2), { { -INF, 0, -INF }, { -math.log(2), -INF, -math.log(2) } })
  H.assert_close(x:logsumexp(2), { 0, 1 + math.log(2) })
  -- the -inf positions get no gradient, the others the usual one
  local w = H.leaf(x)
  w:softmax(2):backward(lunet.tensor{ { 1, 2, 3 }, { 1, 2, 3 } })
  H.assert_close(w.grad, { { 0, 0, 0 }, { -0.5, 0, 0.5 } })
end

-- mirrors PyTorch: softmax and log_softmax of an all -inf row are NaN,
-- logsumexp of it is -inf; a +inf entry gives logsumexp inf
function TestReduceStability:test_all_minus_inf_row()
  local x = lunet.tensor{ { -INF, -INF }, { 0, 0 } }
  local s = x:softmax(2):totable()
  lu.assertNotEquals(s[1][1], s[1][1])
  lu.assertNotEquals(s[1][2], s[1][2])
  lu.assertEquals(s[2], { 0.5, 0.5 })
  local l = x:log_softmax(2):totable()
  lu.assertNotEquals(l[1][1], l[1][1])
  lu.assertEquals(x:logsumexp(2):totable()[1], -INF)
  lu.assertEquals(lunet.tensor{ INF, 0 }:logsumexp():item(), INF)
end

-- ---------------------------------------------------------------- errors

TestReduceErrors = {}

local function raises_exactly(msg, fn, ...)
  local ok, err = pcall(fn, ...)
  lu.assertFalse(ok, "expected error: " .. msg)
  lu.assertEquals((tostring(err):gsub("^.-:%d+: ", "")), msg)
end

function TestReduceErrors:test_messages()
  local x = lunet.randn{ 2, 3, 4 }
  raises_exactly("sum: dim 4 out of range for a 3-d tensor", x.sum, x, 4)
  raises_exactly("mean: dim -4 out of range for a 3-d tensor", x.mean, x, -4)
  raises_exactly("max: dim 0 out of range for a 3-d tensor", x.max, x, 0)
  raises_exactly("softmax: dim 5 out of range for a 3-d tensor", x.softmax, x, 5)
  raises_exactly("softmax: dim required", x.softmax, x)
  raises_exactly("log_softmax: dim required", lunet.log_softmax, x)
  raises_exactly("norm: p must be positive or inf (got -1)", x.norm, x, -1)
  raises_exactly("norm: p must be positive or inf (got 0)", x.norm, x, 0)
  raises_exactly("var: options must be a table {correction=, keepdim=}, got boolean",
                 x.var, x, 1, true)
  raises_exactly("std: correction must be an integer, got 0.5",
                 x.std, x, 1, { correction = 0.5 })
  raises_exactly("argmax: dim must be an integer, got 1.5", x.argmax, x, 1.5)
  raises_exactly("max: reduction over an empty dim (dim 1 has size 0)",
                 function() return lunet.zeros{ 0, 3 }:max(1) end)
  raises_exactly("argmax: reduction over an empty tensor",
                 function() return lunet.zeros{ 0 }:argmax() end)
  raises_exactly("min: reduction over an empty tensor",
                 function() return lunet.zeros{ 2, 0 }:min() end)
  raises_exactly("sum: argument 1 must be a tensor or number, got boolean",
                 lunet.sum, true)
end

-- ---------------------------------------------------------------- gradients

TestReduceGrad = {}

-- distinct values 0.1 apart, none within 0.03 of 0 and no two equal in |x|:
-- finite differences (eps 1e-2) cannot move an argmax or cross a kink
local function distinct(shape)
  local n = H.numel(shape)
  local vals, step = {}, 7
  while n % step == 0 or step % n == 0 do step = step + 2 end
  for i = 0, n - 1 do vals[#vals + 1] = ((i * step) % n) * 0.1 - 0.57 end
  return lunet.tensor(vals):view(shape)
end

-- the leaves to check: contiguous, transposed and narrowed; plus the
-- expanded case, which must expand inside fn (a leaf cannot overlap)
local function grad_cases(make)
  return {
    { "contiguous", H.leaf(make{ 3, 4 }), function(x) return x end },
    { "transposed", H.leaf(make{ 4, 3 }:t()), function(x) return x end },
    { "narrowed", H.leaf(make{ 3, 6 }):narrow(2, 2, 4):detach():requires_grad(true),
      function(x) return x end },
    { "expanded", H.leaf(make{ 3, 1 }), function(x) return x:expand{ 3, 4 } end },
    { "3-d", H.leaf(make{ 2, 3, 4 }), function(x) return x end },
  }
end

-- gradcheck op(x, dim, keepdim) for every case, dim and keepdim
local function check_grad(name, op, make, dims, opts)
  for _, case in ipairs(grad_cases(make or lunet.randn)) do
    local lname, x, prep = table.unpack(case)
    for _, dim in ipairs(dims or { false, 1, 2, -1 }) do
      for _, keepdim in ipairs{ false, true } do
        local ok, worst, where = lunet.gradcheck(function(t)
          return op(prep(t), dim or nil, keepdim)
        end, { x }, opts)
        lu.assertTrue(ok, string.format("%s %s dim=%s keepdim=%s: worst %.3g, %s",
          name, lname, tostring(dim), tostring(keepdim), worst, where))
      end
    end
  end
end

function TestReduceGrad:test_sum_mean()
  check_grad("sum", function(x, d, k) return x:sum(d, k) end)
  check_grad("mean", function(x, d, k) return x:mean(d, k) end)
end

function TestReduceGrad:test_var_std()
  for _, c in ipairs{ 0, 1 } do
    check_grad("var c=" .. c, function(x, d, k)
      return x:var(d, { correction = c, keepdim = k }) end)
    check_grad("std c=" .. c, function(x, d, k)
      return x:std(d, { correction = c, keepdim = k }) end)
  end
end

function TestReduceGrad:test_norm()
  for _, p in ipairs{ 2, 1, INF, 3 } do
    check_grad("norm p=" .. p, function(x, d, k) return x:norm(p, d, k) end, distinct)
  end
end

function TestReduceGrad:test_max_min()
  check_grad("max", function(x, d, k) return (x:max(d, k)) end, distinct)
  check_grad("min", function(x, d, k) return (x:min(d, k)) end, distinct)
end

function TestReduceGrad:test_logsumexp()
  check_grad("logsumexp", function(x, d, k) return x:logsumexp(d, k) end)
end

function TestReduceGrad:test_softmax_log_softmax()
  check_grad("softmax", function(x, d) return x:softmax(d) end, nil, { 1, 2, -1 })
  check_grad("log_softmax", function(x, d) return x:log_softmax(d) end, nil, { 1, 2, -1 })
end

-- softmax over a middle dim of a 4-d input: the gathered-rows path
function TestReduceGrad:test_middle_dim_4d()
  lunet.manual_seed(11)
  local x = H.leaf(lunet.randn{ 2, 3, 2, 2 })
  for _, f in ipairs{
    function(t) return t:softmax(2) end, function(t) return t:log_softmax(-3) end,
    function(t) return t:logsumexp(2) end, function(t) return t:var(3) end,
    function(t) return t:norm(2, 2, true) end, function(t) return (t:max(2)) end,
    function(t) return t:mean(3) end,
  } do
    H.gradcheck(f, { x })
  end
end

-- max() over everything shares a tie evenly (PyTorch's max()); along a dim
-- the one reported index takes it all (PyTorch's max(dim))
function TestReduceGrad:test_tie_gradients()
  local x = H.leaf(lunet.tensor{ 1, 3, 3 })
  x:max():backward()
  H.assert_close(x.grad, { 0, 0.5, 0.5 })
  x = H.leaf(lunet.tensor{ { 1, 3, 3 } })
  x:max(2):sum():backward()
  H.assert_close(x.grad, { { 0, 1, 0 } })
  x = H.leaf(lunet.tensor{ -2, 1, -2 })
  x:min():backward()
  H.assert_close(x.grad, { 0.5, 0, 0.5 })
  x = H.leaf(lunet.tensor{ 2, -1, -2 })
  x:norm(INF):backward()
  H.assert_close(x.grad, { 0.5, 0, -0.5 })
end

-- zero norm and zero std give a zero gradient, not NaN
function TestReduceGrad:test_zero_norm_and_std()
  local x = H.leaf(lunet.zeros{ 3 })
  x:norm():backward()
  H.assert_close(x.grad, { 0, 0, 0 })
  x = H.leaf(lunet.zeros{ 2, 3 })
  x:norm(3, 2):sum():backward()
  H.assert_close(x.grad, { { 0, 0, 0 }, { 0, 0, 0 } })
  x = H.leaf(lunet.full({ 4 }, 2))
  x:std():backward()
  H.assert_close(x.grad, { 0, 0, 0, 0 })
end

function TestReduceGrad:test_argmax_has_no_grad()
  local x = H.leaf(lunet.randn{ 3, 4 })
  lu.assertFalse(x:argmax(2):requires_grad())
  local _, i = x:max(2)
  lu.assertFalse(i:requires_grad())
  lu.assertTrue((x:max(2)):requires_grad())
end

-- the saved output must not keep itself alive (out -> node -> out)
function TestReduceGrad:test_graph_is_freed()
  collectgarbage()
  collectgarbage()
  local before = lunet.memory_allocated()
  do
    local x = H.leaf(lunet.randn{ 64, 64 })
    local y = x:softmax(2):log_softmax(1):std(1):norm() + x:logsumexp(1):sum()
    y:backward()
  end
  collectgarbage()
  collectgarbage()
  lu.assertEquals(lunet.memory_allocated(), before)
end

-- ---------------------------------------------------------------- on the pool

-- max/min (values and indices), argmax and var/std (values and gradients)
-- run their rows on the pool, and a sum over everything and
-- clip_grad_norm's norm their fixed pieces: on 2 threads, with the pool's grain at its
-- default (the small sizes stay on the calling thread, the large ones are
-- cut in chunks) and at 1 flop (every size cut), they give the bits of the
-- serial loop on 1 thread -- rows with ties and NaNs included, over the
-- last dim, a middle one (rows gathered first) and everything
TestReducePool = {}

function TestReducePool:setUp() self.threads, self.grain = lunet.get_num_threads(), lunet._par_grain() end
function TestReducePool:tearDown()
  lunet.set_num_threads(self.threads); lunet._par_grain(self.grain)
  collectgarbage()          -- the tensors past 2^24 (hundreds of MB) go now,
  lunet._release_cache()    -- and their buffers back to the C library
end

local function pool_results(shape)
  lunet.manual_seed(21)
  local x = lunet.randn(shape)
  x[{ 1, 1 }] = 0 / 0                         -- a NaN row
  x[{ 2, 2 }], x[{ 2, 3 }] = 50, 50           -- a tie
  local out = {}
  local function keep(t)   -- as hex floats: bits compared, NaN equal to NaN
    local v = t:flatten(1, -1):totable()
    for i = 1, #v do v[i] = string.format("%a", v[i]) end
    out[#out + 1] = table.concat(v, " ")
  end
  for _, dim in ipairs { -1, 1, false } do
    local d = dim or nil
    for _, op in ipairs { "max", "min" } do
      if d then
        local v, i = lunet[op](x, d)
        keep(v); keep(i)
      else
        keep(lunet[op](x))
      end
    end
    keep(lunet.argmax(x, d))
    for _, op in ipairs { "var", "std" } do
      local xl = H.leaf(x:clone())
      local y = xl[op](xl, d)
      y:backward(lunet.ones_like(y))
      keep(y); keep(xl.grad)
    end
  end
  local g = H.leaf(lunet.randn(shape))
  g.grad = lunet.randn(shape)
  out[#out + 1] = string.format("%a %a", lunet.sum(g):item(), lunet.optim.clip_grad_norm({ g }, 1e9))
  return out
end

function TestReducePool:test_same_bits_as_the_serial_loop()
  for _, shape in ipairs { { 3, 7 }, { 200, 400 }, { 2000, 40 } } do
    lunet.set_num_threads(1)
    local serial = pool_results(shape)
    lunet.set_num_threads(2)
    lu.assertEquals(pool_results(shape), serial, "default grain")
    lunet._par_grain(1)
    lu.assertEquals(pool_results(shape), serial, "every size cut")
    lunet._par_grain(self.grain)
  end
end

-- the pieces add up to the norm a plain loop in double finds
function TestReducePool:test_clip_norm_in_pieces()
  lunet.manual_seed(22)
  local g = H.leaf(lunet.zeros { 70000 * 3 + 5 })
  g.grad = lunet.randn { 70000 * 3 + 5 }
  local s, v = 0, g.grad:totable()
  for i = 1, #v do s = s + v[i] * v[i] end
  lu.assertAlmostEquals(lunet.optim.clip_grad_norm({ g }, 1e9), math.sqrt(s), 1e-9 * math.sqrt(s))
end

-- max/min over one long row go in fixed pieces of 65536 on the pool: the
-- value and the index of a plain Lua loop (the first NaN, else the first
-- extreme) on 1 and 2 threads, with ties, NaNs and infinities placed
-- inside, across and at the edges of the pieces
local PIECE = 65536

local function loop_extreme(v, ismin)
  local best = 1
  for i = 1, #v do
    if v[i] ~= v[i] then return i end
    if ismin and v[i] < v[best] or not ismin and v[i] > v[best] then best = i end
  end
  return best
end

local LONG_CASES = {
  { what = "ties in two pieces", set = { [PIECE + 9] = 50, [7] = 50, [PIECE * 2 + 1] = -50, [3] = -50 } },
  { what = "a tie across a piece edge", set = { [PIECE] = 50, [PIECE + 1] = 50 } },
  { what = "NaN first", set = { [1] = 0 / 0, [2] = INF } },
  { what = "NaN last", set = { [-1] = 0 / 0, [5] = INF, [6] = -INF } },
  { what = "NaN in two pieces", set = { [PIECE * 2 + 3] = 0 / 0, [PIECE + 2] = 0 / 0, [PIECE + 1] = INF } },
  { what = "NaN at a piece's start", set = { [PIECE + 1] = 0 / 0 } },
  { what = "infinities", set = { [PIECE * 3] = INF, [PIECE * 3 + 1] = INF, [2] = -INF, [PIECE] = -INF } },
}

local function long_row(n, set)
  lunet.manual_seed(n)
  local v = lunet.randn({ n }):totable()
  for i, x in pairs(set) do
    if i < 0 then i = n + 1 + i end
    if i <= n then v[i] = x end
  end
  return v
end

-- each op's value (as a hex float: NaN equal to NaN) and 1-based index
local function long_results(x)
  local r = {}
  for _, op in ipairs { "max", "min" } do
    local v, i = lunet[op](x, 1)
    r[op] = { string.format("%a", lunet[op](x):item()), string.format("%a", v:item()), i:item(),
              lunet["arg" .. op](x):item() }
  end
  return r
end

function TestReducePool:test_one_long_row_in_pieces()
  for _, n in ipairs { 1000, PIECE, PIECE + 1, PIECE * 3 + 5 } do
    for _, case in ipairs(LONG_CASES) do
      local v = long_row(n, case.set)
      local x = lunet.tensor(v)
      local what = string.format("%s, n = %d", case.what, n)
      lunet.set_num_threads(1)
      local serial = long_results(x)
      for _, op in ipairs { "max", "min" } do
        local k = loop_extreme(v, op == "min")
        local want = string.format("%a", v[k])
        lu.assertEquals(serial[op], { want, want, k, k }, op .. ": " .. what)
      end
      lunet.set_num_threads(2)
      lu.assertEquals(long_results(x), serial, "2 threads: " .. what)
    end
  end
end

-- an all-equal row and an all -inf row: the first index of all
function TestReducePool:test_one_long_row_all_equal()
  for _, fill in ipairs { 3, -INF, INF } do
    local x = lunet.full({ PIECE * 2 + 7 }, fill)
    for _, threads in ipairs { 1, 2 } do
      lunet.set_num_threads(threads)
      lu.assertEquals({ lunet.argmax(x):item(), lunet.argmin(x):item(), lunet.max(x):item() }, { 1, 1, fill })
    end
  end
end

-- past 2^24 elements, where float32 indices would round (0-based 2^24 + 1
-- has no float32), indices are exact: int64 from the kernel to the
-- backward.  Along a dim over two rows (rows on the pool), over one long
-- row (pieces on the pool) and over everything, on 1 and 2 threads
local BIG = (1 << 24) + 3

-- row 1: its max at the last index, its min just before; row 2: a max
-- tied at the last two indices (the first wins), its min before them
local function big_rows()
  local x = lunet.zeros { 2, BIG }
  x[{ 1, BIG }], x[{ 1, BIG - 1 }] = 2, -2
  x[{ 2, BIG - 1 }], x[{ 2, BIG }], x[{ 2, BIG - 2 }] = 3, 3, -3
  return x
end

-- each row as one long row (long_results), then the two rows at once
-- along dim 2 and flat over everything
local function big_results(x)
  local r = { long_results(x:select(1, 1)), long_results(x:select(1, 2)) }
  for _, op in ipairs { "max", "min" } do
    local v, i = lunet[op](x, 2)
    r[op] = { v:totable(), i:totable(), lunet["arg" .. op](x, 2):totable(), lunet["arg" .. op](x):item() }
  end
  return r
end

function TestReducePool:test_indices_past_2_24()
  local x, n = big_rows(), BIG
  local function hex(v) return string.format("%a", v) end
  local want = {
    { max = { hex(2), hex(2), n, n }, min = { hex(-2), hex(-2), n - 1, n - 1 } },
    { max = { hex(3), hex(3), n - 1, n - 1 }, min = { hex(-3), hex(-3), n - 2, n - 2 } },
    max = { { 2, 3 }, { n, n - 1 }, { n, n - 1 }, 2 * n - 1 },
    min = { { -2, -3 }, { n - 1, n - 2 }, { n - 1, n - 2 }, 2 * n - 2 },
  }
  for _, threads in ipairs { 1, 2 } do
    lunet.set_num_threads(threads)
    lu.assertEquals(big_results(x), want, threads .. " threads")
  end
  lu.assertEquals(lunet.argmax(x, 2).dtype, "int64")
end

-- the gradient lands at the saved index past 2^24 (one long row: its
-- max last, its min just before), or for a max over everything on every
-- element equal to it
function TestReducePool:test_gradient_past_2_24()
  local n = BIG
  local x = lunet.zeros { 1, n }
  x[{ 1, n }], x[{ 1, n - 1 }] = 2, -2
  x = H.leaf(x)
  local function grad_at(cells)
    local g, v = x.grad, {}
    for i, c in ipairs(cells) do v[i] = g:get(c) end
    v[#v + 1] = g:sum():item()
    x.grad = nil
    collectgarbage()
    return v
  end
  local v, i = lunet.max(x, 2)
  lu.assertEquals({ v:totable(), i:totable() }, { { 2 }, { n } })
  v:backward(lunet.tensor { 10 })
  lu.assertEquals(grad_at { { 1, n }, { 1, n - 1 } }, { 10, 0, 10 })
  v, i = lunet.min(x, -1, true)
  lu.assertEquals({ v:totable(), i:totable() }, { { { -2 } }, { { n - 1 } } })
  v:backward(lunet.tensor { { 5 } })
  lu.assertEquals(grad_at { { 1, n - 1 }, { 1, n } }, { 5, 0, 5 })
  lunet.max(x):backward()
  lu.assertEquals(grad_at { { 1, n }, { 1, n - 1 } }, { 1, 0, 1 })
  lunet.no_grad(function() x[{ 1, 1 }] = 2 end)   -- a tie shares a max over everything
  lunet.max(x):backward()
  lu.assertEquals(grad_at { { 1, 1 }, { 1, n }, { 1, 2 } }, { 0.5, 0.5, 0, 1 })
end
