-- Elementwise ops: arithmetic metamethods and functions with numbers on
-- either side and NumPy broadcasting, every unary op against its formula,
-- maximum/minimum, comparisons, clamp, where, masked_fill -- on
-- contiguous and strided operands -- and gradchecks of everything
-- differentiable, including broadcast, 0-d, non-contiguous and expanded
-- inputs.
local lu = require "luaunit"
local lunet = require "lunet"
local H = require "helpers"

-- ---------------------------------------------------------------- oracles

-- broadcast shape of two shapes (they must be compatible)
local function bshape(sa, sb)
  local n = math.max(#sa, #sb)
  local out = {}
  for i = 1, n do
    local a = sa[i - (n - #sa)] or 1
    local b = sb[i - (n - #sb)] or 1
    out[i] = a == 1 and b or a
  end
  return out
end

-- the element of a (of shape sa) that broadcasting puts at idx
local function bat(a, sa, idx)
  if type(a) == "number" then return a end
  local lead, j = #idx - #sa, {}
  for d = 1, #sa do j[d] = sa[d] == 1 and 1 or idx[d + lead] end
  return H.at(a, j)
end

-- f applied elementwise over broadcast operands (tensors or numbers)
local function ref(f, ...)
  local args, shapes, shape = {...}, {}, {}
  local vals = {}
  for k, a in ipairs(args) do
    if lunet.is_tensor(a) then
      vals[k], shapes[k] = a:totable(), a:shape()
      shape = bshape(shape, shapes[k])
    else
      vals[k], shapes[k] = a, {}
    end
  end
  return H.build(shape, function(idx)
    local xs = {}
    for k = 1, #args do xs[k] = bat(vals[k], shapes[k], idx) end
    return f(table.unpack(xs))
  end)
end

-- ---------------------------------------------------------------- math

local function tanh(x)
  if x > 20 then return 1 elseif x < -20 then return -1 end
  local e = math.exp(2 * x)
  return (e - 1) / (e + 1)
end

-- erf by its Maclaurin series: exact to double rounding for |x| <= 4
local function erf(x)
  local sum, term, n = x, x, 0
  repeat
    n = n + 1
    term = -term * x * x / n
    local add = term / (2 * n + 1)
    sum = sum + add
  until math.abs(add) < 1e-17 * math.max(1, math.abs(sum))
  return 2 / math.sqrt(math.pi) * sum
end

local function sigmoid(x) return 1 / (1 + math.exp(-x)) end

local UNARY = {
  neg = function(x) return -x end,
  exp = math.exp,
  log = math.log,
  sqrt = math.sqrt,
  rsqrt = function(x) return 1 / math.sqrt(x) end,
  abs = math.abs,
  tanh = tanh,
  sigmoid = sigmoid,
  relu = function(x) return x > 0 and x or 0 end,
  gelu = function(x) return 0.5 * x * (1 + erf(x / math.sqrt(2))) end,
  silu = function(x) return x * sigmoid(x) end,
  sin = math.sin,
  cos = math.cos,
  square = function(x) return x * x end,
}
local POSITIVE = { log = true, sqrt = true, rsqrt = true }
local KINKED = { abs = true, relu = true }

local function gelu_tanh(x)
  return 0.5 * x * (1 + tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ^ 3)))
end

local BINARY = {
  add = function(a, b) return a + b end,
  sub = function(a, b) return a - b end,
  mul = function(a, b) return a * b end,
  div = function(a, b) return a / b end,
  pow = function(a, b) return a ^ b end,
  maximum = function(a, b) return math.max(a, b) end,
  minimum = function(a, b) return math.min(a, b) end,
}
-- the ops with a Lua operator: BINARY's functions use + - * / ^, which
-- on tensors are the metamethods
local META = { add = BINARY.add, sub = BINARY.sub, mul = BINARY.mul, div = BINARY.div,
               pow = BINARY.pow }

-- ---------------------------------------------------------------- inputs

-- a tensor of shape with values in [lo, hi)
local function vals(shape, lo, hi) return lunet.uniform(shape, lo, hi) end

-- values at least `gap` away from every point in `avoid`
local function away(shape, avoid, gap)
  gap = gap or 0.1
  return lunet.tensor(H.build(shape, function()
    while true do
      local v = (math.random() * 2 - 1) * 2
      local ok = true
      for _, p in ipairs(avoid) do if math.abs(v - p) < gap then ok = false end end
      if ok then return v end
    end
  end))
end

-- operands suited to op: (first, second)
local function operands(op, sa, sb)
  if op == "pow" then return vals(sa, 0.5, 2), vals(sb, -2, 2) end
  if op == "div" then return vals(sa, -2, 2), away(sb, {0}, 0.5) end
  if op == "maximum" or op == "minimum" then
    -- a on quarter points, b on half points: never within 0.25
    local a = lunet.tensor(H.build(sa, function() return math.random(-4, 3) * 0.5 + 0.25 end))
    local b = lunet.tensor(H.build(sb, function() return math.random(-4, 4) * 0.5 end))
    return a, b
  end
  return vals(sa, -2, 2), vals(sb, -2, 2)
end

-- the same values laid out as a transposed / narrowed view
local function strided(t)   -- 2-d only: same shape and values, transposed layout
  return t:t():contiguous():t()
end
local function as_narrowed(t)
  local s = t:shape()
  s[#s] = s[#s] + 2
  local big = lunet.zeros(s)
  local v = big:narrow(-1, 2, t:size(-1))
  v:copy_(t)
  return v
end

local TOL = 1e-5

-- ---------------------------------------------------------------- binary

TestElemBinary = {}

function TestElemBinary:setUp() math.randomseed(11); lunet.manual_seed(11) end

function TestElemBinary:test_same_shape_all_forms()
  for op, f in pairs(BINARY) do
    local a, b = operands(op, {3, 4}, {3, 4})
    local want = ref(f, a, b)
    H.assert_close(lunet[op](a, b), want, TOL, op .. " function")
    H.assert_close(a[op](a, b), want, TOL, op .. " method")
    if META[op] then H.assert_close(META[op](a, b), want, TOL, op .. " operator") end
  end
end

function TestElemBinary:test_numbers_either_side()
  local x = vals({2, 3}, 0.5, 2)
  for op, f in pairs(BINARY) do
    for _, s in ipairs({2, -0.5}) do
      H.assert_close(lunet[op](x, s), ref(function(a) return f(a, s) end, x), TOL, op .. " x,s")
      H.assert_close(lunet[op](s, x), ref(function(a) return f(s, a) end, x), TOL, op .. " s,x")
      if META[op] then
        H.assert_close(META[op](x, s), ref(function(a) return f(a, s) end, x), TOL, op)
        H.assert_close(META[op](s, x), ref(function(a) return f(s, a) end, x), TOL, op)
      end
    end
  end
  lu.assertEquals((x + 1):shape(), {2, 3})
  lu.assertEquals((1 + x):shape(), {2, 3})
end

function TestElemBinary:test_unary_minus()
  local x = vals({3, 2}, -2, 2)
  H.assert_close(-x, ref(function(a) return -a end, x), 0)
  H.assert_close(-(x:t()), ref(function(a) return -a end, x:t()), 0)
  lu.assertEquals((-lunet.tensor(3)):item(), -3)
end

function TestElemBinary:test_broadcasting()
  local cases = {
    {{2, 1, 3}, {4, 1}, {2, 4, 3}},
    {{4, 1}, {2, 1, 3}, {2, 4, 3}},
    {{2, 3}, {3}, {2, 3}},
    {{3}, {2, 3}, {2, 3}},
    {{2, 3}, {}, {2, 3}},
    {{}, {2, 3}, {2, 3}},
    {{1}, {2, 3}, {2, 3}},
    {{3, 1}, {1, 4}, {3, 4}},
  }
  for _, c in ipairs(cases) do
    for op, f in pairs(BINARY) do
      local a, b = operands(op, c[1], c[2])
      local got = lunet[op](a, b)
      lu.assertEquals(got:shape(), c[3], op)
      H.assert_close(got, ref(f, a, b), TOL, op .. " broadcast")
    end
  end
end

function TestElemBinary:test_zero_d()
  local a, b = lunet.tensor(2), lunet.tensor(5)
  local s = a + b
  lu.assertEquals(s:dim(), 0)
  lu.assertEquals(s:item(), 7)
  lu.assertEquals((a * b):item(), 10)
  lu.assertEquals((b / a):item(), 2.5)
  lu.assertEquals((a ^ b):item(), 32)
  lu.assertEquals((a - 3):item(), -1)
end

function TestElemBinary:test_table_operand()
  local x = lunet.tensor{{1, 2}, {3, 4}}
  H.assert_close(x + {10, 20}, {{11, 22}, {13, 24}}, 0)
  H.assert_close(lunet.mul({2, 3}, x), {{2, 6}, {6, 12}}, 0)
end

function TestElemBinary:test_strided_operands()
  for op, f in pairs(BINARY) do
    local a, b = operands(op, {3, 4}, {3, 4})
    local as, bn = strided(a), as_narrowed(b)
    lu.assertFalse(as:is_contiguous())
    lu.assertFalse(bn:is_contiguous())
    H.assert_close(lunet[op](as, bn), ref(f, a, b), TOL, op .. " strided")
    H.assert_close(lunet[op](a:t(), strided(b:t():contiguous())), ref(f, a:t(), b:t()), TOL,
                   op .. " transposed views")
    local col = operands(op, {3, 1}, {3, 1})
    local e = col:expand(3, 4)
    H.assert_close(lunet[op](e, bn), ref(f, e, b), TOL, op .. " expanded")
    H.assert_close(lunet[op](bn, e), ref(f, b, e), TOL, op .. " expanded 2nd")
  end
  -- a large strided case crosses any fast-path row boundary
  local big = lunet.randn{64, 33}
  local bt = big:t()
  H.assert_close(bt + bt, ref(function(p, q) return p + q end, bt, bt), TOL)
  H.assert_close(bt * big:t():contiguous(), ref(function(p, q) return p * q end, bt, bt), TOL)
end

function TestElemBinary:test_maximum_minimum_ties()
  local a = lunet.tensor{1, 5, 3, -2}
  local b = lunet.tensor{4, 5, 2, -3}
  H.assert_close(lunet.maximum(a, b), {4, 5, 3, -2}, 0)
  H.assert_close(lunet.minimum(a, b), {1, 5, 2, -3}, 0)
  H.assert_close(a:maximum(0), {1, 5, 3, 0}, 0)
  H.assert_close(a:minimum(2), {1, 2, 2, -2}, 0)
end

function TestElemBinary:test_comparisons()
  -- small integers so that ties happen
  local a = lunet.tensor(H.build({3, 4}, function(i) return (i[1] * 7 + i[2] * 3) % 4 end))
  local b = lunet.tensor(H.build({3, 4}, function(i) return (i[1] + i[2] * 5) % 4 end))
  local cmp = {
    eq = function(x, y) return x == y end,    -- comparisons give bool tensors
    ne = function(x, y) return x ~= y end,
    lt = function(x, y) return x < y end,
    le = function(x, y) return x <= y end,
    gt = function(x, y) return x > y end,
    ge = function(x, y) return x >= y end,
  }
  for op, f in pairs(cmp) do
    H.assert_close(lunet[op](a, b), ref(f, a, b), 0, op)
    H.assert_close(a[op](a, b), ref(f, a, b), 0, op .. " method")
    H.assert_close(a[op](a, 2), ref(function(x) return f(x, 2) end, a), 0, op .. " number")
    H.assert_close(lunet[op](2, a), ref(function(x) return f(2, x) end, a), 0, op .. " number first")
    local row = lunet.tensor{0, 1, 2, 3}
    H.assert_close(lunet[op](a, row), ref(f, a, row), 0, op .. " broadcast")
    H.assert_close(lunet[op](a:t(), b:t()), ref(f, a:t(), b:t()), 0, op .. " strided")
  end
end

function TestElemBinary:test_comparisons_carry_no_grad()
  local x = H.leaf(lunet.randn{3})
  local c = x:gt(0)
  lu.assertFalse(c:requires_grad())
  lu.assertNil(c.grad_fn)
  lu.assertFalse(lunet.eq(x, x):requires_grad())
end

-- ---------------------------------------------------------------- unary

TestElemUnary = {}

function TestElemUnary:setUp() math.randomseed(12); lunet.manual_seed(12) end

local function unary_input(op, shape)
  if POSITIVE[op] then return vals(shape, 0.1, 3) end
  return vals(shape, -3, 3)
end

function TestElemUnary:test_values()
  for op, f in pairs(UNARY) do
    local x = unary_input(op, {4, 5})
    local want = ref(f, x)
    H.assert_close(x[op](x), want, TOL, op .. " method")
    H.assert_close(lunet[op](x), want, TOL, op .. " function")
    -- transposed and narrowed inputs
    local xt = strided(x)
    H.assert_close(xt[op](xt), want, TOL, op .. " transposed")
    H.assert_close(x:t()[op](x:t()), ref(f, x:t()), TOL, op .. " transposed view")
    local xn = as_narrowed(x)
    H.assert_close(xn[op](xn), want, TOL, op .. " narrowed")
    -- 0-d and empty
    local s = x:get{1, 1}
    H.assert_close(lunet.tensor(s)[op](lunet.tensor(s)), f(s), TOL, op .. " 0-d")
    lu.assertEquals(lunet.zeros{0, 3}[op](lunet.zeros{0, 3}):shape(), {0, 3})
  end
end

function TestElemUnary:test_special_values()
  H.assert_close(lunet.tensor{0, 1}:log(), {-math.huge, 0}, 0)
  H.assert_close(lunet.tensor{-1, 0, 1}:relu(), {0, 0, 1}, 0)
  H.assert_close(lunet.tensor{-1, 0, 1}:abs(), {1, 0, 1}, 0)
  H.assert_close(lunet.tensor{-100, 100}:sigmoid(), {0, 1}, 1e-6)
  H.assert_close(lunet.tensor{-100, 100}:tanh(), {-1, 1}, 1e-6)
  local n = lunet.tensor{-1}:sqrt():item()
  lu.assertTrue(n ~= n, "sqrt(-1) is nan")
end

function TestElemUnary:test_gelu_variants()
  local x = vals({3, 4}, -4, 4)
  H.assert_close(x:gelu(), ref(UNARY.gelu, x), TOL)
  H.assert_close(x:gelu("none"), ref(UNARY.gelu, x), TOL)
  H.assert_close(x:gelu("tanh"), ref(gelu_tanh, x), TOL)
  H.assert_close(lunet.gelu(x, "tanh"), ref(gelu_tanh, x), TOL)
  -- the two differ (by about 1e-3 near |x| = 2)
  local d = (lunet.tensor{2} :gelu() - lunet.tensor{2}:gelu("tanh")):abs():item()
  lu.assertTrue(d > 1e-5, "gelu and gelu('tanh') should differ")
end

function TestElemUnary:test_clamp()
  local x = vals({3, 4}, -2, 2)
  local function cl(lo, hi)
    lo = lo and H.f32(lo)
    hi = hi and H.f32(hi)
    return function(v)
      if lo and v < lo then return lo end
      if hi and v > hi then return hi end
      return v
    end
  end
  H.assert_close(x:clamp(-0.5, 0.5), ref(cl(-0.5, 0.5), x), 0)
  H.assert_close(lunet.clamp(x, -1, 0.25), ref(cl(-1, 0.25), x), 0)
  H.assert_close(x:clamp(0), ref(cl(0, nil), x), 0)
  H.assert_close(x:clamp(nil, 0.3), ref(cl(nil, 0.3), x), 0)
  H.assert_close(x:t():clamp(-0.1, 0.1), ref(cl(-0.1, 0.1), x:t()), 0)
  H.assert_close(x:clamp(0.2, 0.2), ref(function() return H.f32(0.2) end, x), 0)
end

-- ---------------------------------------------------------------- where, masked_fill

TestElemWhere = {}

function TestElemWhere:setUp() lunet.manual_seed(13) end

local function pick(c, a, b) return (c ~= 0 and c ~= false) and a or b end

function TestElemWhere:test_where()
  local a, b = lunet.randn{3, 4}, lunet.randn{3, 4}
  local c = a:gt(b)
  H.assert_close(lunet.where(c, a, b), ref(pick, c, a, b), 0)
  H.assert_close(lunet.where(c, a, b), lunet.maximum(a, b), 0)
  H.assert_close(c:where(a, b), ref(pick, c, a, b), 0)
  -- broadcast condition and branches, numbers as branches
  local col = lunet.tensor{{1}, {0}, {1}}
  local row = lunet.tensor{10, 20, 30, 40}
  H.assert_close(lunet.where(col, row, b), ref(pick, col, row, b), 0)
  H.assert_close(lunet.where(c, a, 0), ref(pick, c, a, 0), 0)
  H.assert_close(lunet.where(c, -1, 1), ref(pick, c, -1, 1), 0)
  lu.assertEquals(lunet.where(col, row, 0):shape(), {3, 4})
  -- any non-zero condition counts as true
  H.assert_close(lunet.where(lunet.tensor{2, 0, -0.5}, 1, 0), {1, 0, 1}, 0)
  -- strided operands
  H.assert_close(lunet.where(c:t(), a:t(), b:t()), ref(pick, c:t(), a:t(), b:t()), 0)
end

function TestElemWhere:test_masked_fill()
  local x = lunet.randn{3, 4}
  local m = lunet.tensor{{0, 1, 0, 1}}
  H.assert_close(x:masked_fill(m, -9), ref(function(v, k) return k ~= 0 and -9 or v end, x, m), 0)
  local full = x:lt(0)
  H.assert_close(lunet.masked_fill(x, full, 0), ref(function(v) return v < 0 and 0 or v end, x), 0)
  H.assert_close(x:masked_fill({1, 0, 0, 0}, 5), ref(function(v, k) return k ~= 0 and 5 or v end,
                 x, lunet.tensor{1, 0, 0, 0}), 0)
  local inf = x:masked_fill(m, -math.huge)
  lu.assertEquals(inf:get{1, 2}, -math.huge)
  lu.assertEquals(inf:shape(), {3, 4})
end

-- ---------------------------------------------------------------- gradients

TestElemGrad = {}

function TestElemGrad:setUp() math.randomseed(21); lunet.manual_seed(21) end

function TestElemGrad:test_binary_same_shape()
  for op in pairs(BINARY) do
    local a, b = operands(op, {2, 3}, {2, 3})
    H.gradcheck(function(p, q) return lunet[op](p, q) end, {H.leaf(a), H.leaf(b)})
  end
  H.gradcheck(function(p, q) return p + q * p - q / p end,
              {H.leaf(vals({3}, 0.5, 2)), H.leaf(vals({3}, 0.5, 2))})
end

function TestElemGrad:test_binary_broadcast()
  for op in pairs(BINARY) do
    local a, b = operands(op, {2, 1, 3}, {4, 1})
    H.gradcheck(function(p, q) return lunet[op](p, q) end, {H.leaf(a), H.leaf(b)})
    local c, d = operands(op, {3}, {2, 3})
    H.gradcheck(function(p, q) return lunet[op](p, q) end, {H.leaf(c), H.leaf(d)})
  end
  -- the gradient has the input's shape, summed over broadcast dims
  local a, b = H.leaf(lunet.randn{2, 1, 3}), H.leaf(lunet.randn{4, 1})
  ;(a * b):sum():backward()
  lu.assertEquals(a.grad:shape(), {2, 1, 3})
  lu.assertEquals(b.grad:shape(), {4, 1})
  local bsum, asum = 0, 0
  for _, v in ipairs(b:detach():view{-1}:totable()) do bsum = bsum + v end
  for _, v in ipairs(a:detach():view{-1}:totable()) do asum = asum + v end
  H.assert_close(a.grad, ref(function() return bsum end, a), 1e-5)
  H.assert_close(b.grad, ref(function() return asum end, b), 1e-5)
end

function TestElemGrad:test_binary_with_numbers_and_0d()
  for op in pairs(BINARY) do
    local first, second = operands(op, {2, 3}, {})        -- tensor, 0-d
    H.gradcheck(function(p, q) return lunet[op](p, q) end, {H.leaf(first), H.leaf(second)})
    local a0, b0 = operands(op, {}, {2, 3})               -- 0-d, tensor
    H.gradcheck(function(p, q) return lunet[op](p, q) end, {H.leaf(a0), H.leaf(b0)})
    local s = second:item()
    H.gradcheck(function(p) return lunet[op](p, s) end, {H.leaf(first)})
    if op ~= "pow" then   -- (s may be a negative base)
      local p0 = op == "div" and away({2, 3}, {0}, 0.5) or first
      H.gradcheck(function(p) return lunet[op](s, p) end, {H.leaf(p0)})
    end
  end
  local x = H.leaf(vals({4}, 0.5, 2))
  H.gradcheck(function(p) return p ^ 2 end, {x})
  H.gradcheck(function(p) return 2 ^ p end, {x})
  H.gradcheck(function(p) return p ^ -0.5 end, {x})
  H.gradcheck(function(p) return 3 - p end, {x})
  H.gradcheck(function(p) return 1 / p end, {x})
  H.gradcheck(function(p) return -p end, {x})
end

function TestElemGrad:test_binary_non_contiguous()
  for op in pairs(BINARY) do
    local a, b = operands(op, {3, 4}, {3, 4})
    local at_ = H.leaf(a:t():contiguous():t())       -- transposed leaf, a's values
    local bn = H.leaf(as_narrowed(b))                 -- narrowed leaf
    H.gradcheck(function(p, q) return lunet[op](p, q) end, {at_, bn})
    local c, d = operands(op, {4, 3}, {3})
    H.gradcheck(function(p, q) return lunet[op](p:t(), q:view{3, 1}) end,
                {H.leaf(c), H.leaf(d)})
  end
end

function TestElemGrad:test_expand_inside_fn()
  for op in pairs(BINARY) do
    local a, b = operands(op, {3, 1}, {3, 4})
    H.gradcheck(function(p, q) return lunet[op](p:expand(3, 4), q) end, {H.leaf(a), H.leaf(b)})
    local c, d = operands(op, {2, 4}, {4})
    H.gradcheck(function(p, q) return lunet[op](p, q:expand(2, 4)) end, {H.leaf(c), H.leaf(d)})
  end
end

function TestElemGrad:test_unary()
  for op in pairs(UNARY) do
    local x
    if POSITIVE[op] then x = vals({3, 4}, 0.5, 2)
    elseif KINKED[op] then x = away({3, 4}, {0}, 0.1)
    else x = vals({3, 4}, -2, 2) end
    local fn = function(p) return p[op](p) end
    H.gradcheck(fn, {H.leaf(x)}, nil)
    H.gradcheck(fn, {H.leaf(x:t():contiguous():t())})   -- transposed leaf
    H.gradcheck(fn, {H.leaf(as_narrowed(x))})           -- narrowed leaf
    H.gradcheck(function(p) return p:t()[op](p:t()) end, {H.leaf(x)})
  end
end

function TestElemGrad:test_unary_on_expanded()
  H.gradcheck(function(p) return p:expand(3, 4):exp() end, {H.leaf(lunet.randn{3, 1})})
  H.gradcheck(function(p) return p:expand(2, 3):tanh() * p end, {H.leaf(lunet.randn{3})})
end

function TestElemGrad:test_gelu_tanh()
  local x = vals({3, 4}, -3, 3)
  H.gradcheck(function(p) return p:gelu("tanh") end, {H.leaf(x)})
  H.gradcheck(function(p) return p:gelu("tanh") end, {H.leaf(x:t():contiguous():t())})
end

function TestElemGrad:test_clamp()
  local x = away({3, 4}, {-0.5, 0.5}, 0.05)
  H.gradcheck(function(p) return p:clamp(-0.5, 0.5) end, {H.leaf(x)})
  H.gradcheck(function(p) return p:clamp(0.5) end, {H.leaf(x)})
  H.gradcheck(function(p) return p:clamp(nil, -0.5) end, {H.leaf(x)})
  H.gradcheck(function(p) return p:clamp(-0.5, 0.5) end, {H.leaf(x:t():contiguous():t())})
  -- gradient is 1 inside, 0 where clamped
  local l = H.leaf(lunet.tensor{-2, 0, 2})
  l:clamp(-1, 1):sum():backward()
  H.assert_close(l.grad, {0, 1, 0}, 0)
end

function TestElemGrad:test_where_and_masked_fill()
  local c = lunet.tensor{{1, 0, 1}, {0, 0, 1}}
  H.gradcheck(function(p, q) return lunet.where(c, p, q) end,
              {H.leaf(lunet.randn{2, 3}), H.leaf(lunet.randn{2, 3})})
  -- broadcast branches: gradients summed to their shapes
  H.gradcheck(function(p, q) return lunet.where(c, p, q) end,
              {H.leaf(lunet.randn{3}), H.leaf(lunet.randn{2, 1})})
  H.gradcheck(function(p) return lunet.where(c, p, 0) end, {H.leaf(lunet.randn{2, 3})})
  H.gradcheck(function(p, q) return lunet.where(c:t(), p, q) end,
              {H.leaf(lunet.randn{2, 3}:t()), H.leaf(lunet.randn{3, 2})})
  H.gradcheck(function(p) return p:masked_fill(c, 0) * p end, {H.leaf(lunet.randn{2, 3})})
  H.gradcheck(function(p) return p:masked_fill({{1}, {0}}, -3) end, {H.leaf(lunet.randn{2, 3}:t():contiguous():t())})
  local l = H.leaf(lunet.randn{2, 3})
  l:masked_fill(c, 5):sum():backward()
  H.assert_close(l.grad, ref(function(k) return k ~= 0 and 0 or 1 end, c), 0)
end

function TestElemGrad:test_maximum_minimum_grad_route()
  local a = H.leaf(lunet.tensor{1, 5, 3})
  local b = H.leaf(lunet.tensor{4, 2, 3})
  lunet.maximum(a, b):sum():backward()
  -- the winner gets the gradient; a tie splits it
  H.assert_close(a.grad, {0, 1, 0.5}, 0)
  H.assert_close(b.grad, {1, 0, 0.5}, 0)
end
