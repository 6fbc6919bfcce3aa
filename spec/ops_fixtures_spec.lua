-- Indexing, ordering, scans, rounding, integer arithmetic and dtype
-- promotion against PyTorch: spec/fixtures/ops.safetensors holds, for each
-- case, the inputs, PyTorch's outputs (values and dtypes) and, where the
-- op is differentiable, the gradients of sum(out * gout).  It is made by
-- tools/make_op_fixtures.py (/usr/bin/python3, PyTorch); here the same call
-- is made in lunet and everything compared: indices exactly, floats
-- within 1e-5, dtypes by name.
local lu = require "luaunit"
local lunet = require "lunet"
local H = require "helpers"

local F = lunet.load("fixtures/ops.safetensors")

local S = lunet.optim.schedule

-- a schedule's lr at steps 1..n, as a tensor
local function lrs(f, n)
  local t = {}
  for step = 1, n do t[step] = f(step) end
  return lunet.tensor(t)
end

-- each case: the lunet call on the fixture's inputs (a table by name),
-- returning the outputs in PyTorch's order
local CASES = {
  gather = function(i) return i.x:gather(2, i.index) end,
  scatter = function(i) return i.x:scatter(2, i.index, i.src) end,
  scatter_add = function(i) return i.x:scatter_add(1, i.index, i.src) end,
  index_select = function(i) return i.x:index_select(1, i.index) end,
  index_add = function(i) return i.x:index_add(2, i.index, i.src) end,
  masked_select = function(i) return i.x:masked_select(i.mask) end,
  masked_scatter = function(i) return i.x:masked_scatter(i.mask, i.src) end,
  where_int = function(i) return lunet.where(i.c, i.a, i.b) end,
  sort = function(i) return i.x:sort(2, true) end,
  sort_int = function(i) return i.x:sort(1) end,
  topk = function(i) return i.x:topk(2, 1) end,
  topk_smallest = function(i) return i.x:topk(3, 2, false) end,
  argsort = function(i) return i.x:argsort(2) end,
  argmin = function(i) return i.x:argmin(2) end,
  cumsum = function(i) return i.x:cumsum(1) end,
  cumprod = function(i) return i.x:cumprod(2) end,
  cumsum_int = function(i) return i.x:cumsum(2) end,
  tril = function(i) return i.x:tril(-1) end,
  triu = function(i) return i.x:triu(1) end,
  flip = function(i) return i.x:flip{1, 3} end,
  roll = function(i) return i.x:roll({1, -2}, {1, 2}) end,
  roll_flat = function(i) return i.x:roll(3) end,
  ["repeat"] = function(i) return i.x:repeat_tensor(2, 1, 3) end,
  tile = function(i) return i.x:tile(2) end,
  floor = function(i) return i.x:floor() end,
  ceil = function(i) return i.x:ceil() end,
  round = function(i) return i.x:round() end,
  trunc = function(i) return i.x:trunc() end,
  sign = function(i) return i.x:sign() end,
  fmod = function(i) return i.input:fmod(i.other) end,
  remainder = function(i) return i.input % i.other end,
  floor_divide = function(i) return i.input // i.other end,
  int_add = function(i) return i.input + i.other end,
  int_mul = function(i) return i.input * i.other end,
  int_floor_divide = function(i) return i.input // i.other end,
  int_remainder = function(i) return i.input % i.other end,
  int_fmod = function(i) return lunet.fmod(i.input, i.other) end,
  int_div = function(i) return i.input / i.other end,
  int_pow = function(i) return i.input ^ i.other end,
  int_float_add = function(i) return i.input + i.other end,
  int_lt = function(i) return i.input:lt(i.other) end,
  int_max = function(i) return i.x:max(2) end,
  int_sum = function(i) return i.x:sum(1) end,
  bool_sum = function(i) return i.x:sum(2) end,
  bool_and = function(i) return i.input & i.other end,
  isnan = function(i) return i.x:isnan() end,
  isinf = function(i) return i.x:isinf() end,
  isfinite = function(i) return i.x:isfinite() end,
  any = function(i) return i.x:any(2) end,
  all = function(i) return i.x:all(1) end,
  -- learning-rate schedules, step 1 .. n
  sched_step_lr = function() return lrs(S.step_lr { lr = 0.1, step_size = 3, gamma = 0.5 }, 10) end,
  sched_linear = function() return lrs(S.linear { lr = 0.5, total = 10, min_lr = 0.05 }, 12) end,
  sched_cosine = function() return lrs(S.warmup_cosine { lr = 1, total = 8, min_lr = 0.1 }, 9) end,
  sched_warmup = function() return lrs(S.warmup_cosine { lr = 1, warmup = 4, total = 10 }, 4) end,
  sched_one_cycle = function() return lrs(S.one_cycle { max_lr = 1, total = 20 }, 20) end,
  sched_one_cycle_linear = function()
    return lrs(S.one_cycle { max_lr = 2, total = 12, pct_start = 0.25, anneal = "linear",
                             div_factor = 10, final_div_factor = 100 }, 12)
  end,
}

-- the fixture's entries of one case: inputs, outputs (in order), gradients
local function entries(name)
  local ins, outs, grads = {}, {}, {}
  for k, t in pairs(F) do
    local c, kind, key = k:match("^(.-)%.(%a+)%.(.+)$")
    if c == name then
      if kind == "in" then ins[key] = t
      elseif kind == "out" then outs[tonumber(key)] = t
      elseif kind == "grad" then grads[key] = t end
    end
  end
  return ins, outs, grads, F[name .. ".gout"]
end

local function same(actual, expected, what)
  lu.assertEquals(actual.dtype, expected.dtype, what .. " dtype")
  lu.assertEquals(actual:shape(), expected:shape(), what .. " shape")
  H.assert_close(actual, expected, expected.dtype == "float32" and 1e-5 or 0, what)
end

TestOpsFixtures = {}

function TestOpsFixtures:test_every_fixture_case_has_a_lunet_call()
  local seen = {}
  for k in pairs(F) do seen[k:match("^(.-)%.")] = true end
  for name in pairs(seen) do lu.assertNotNil(CASES[name], "no lunet call for fixture case " .. name) end
  for name in pairs(CASES) do lu.assertTrue(seen[name], "no fixture for case " .. name) end
end

for name, call in pairs(CASES) do
  TestOpsFixtures["test_" .. name] = function()
    local ins, outs, grads, gout = entries(name)
    for k, t in pairs(ins) do
      if grads[k] then ins[k] = H.leaf(t) end
    end
    local got = table.pack(call(ins))
    lu.assertEquals(got.n, #outs, name .. ": number of outputs")
    for j = 1, #outs do same(got[j], outs[j], name .. " output " .. j) end
    if gout then
      got[1]:backward(gout)
      for k, g in pairs(grads) do same(ins[k].grad, g, name .. " grad of " .. k) end
    end
  end
end
