-- Tensors: creation functions, random numbers, geometry queries, element
-- access, totable/tostring, and the in-place writers (fill_, copy_,
-- uniform_, normal_) with their grad-mode guard.  Expected values come
-- from plain Lua loops.
local lu = require "luaunit"
local lunet = require "lunet"
local H = require "helpers"

-- ---------------------------------------------------------------- oracles

local function mean_std(v)
  local s, s2 = 0, 0
  for _, e in ipairs(v) do s = s + e end
  local m = s / #v
  for _, e in ipairs(v) do s2 = s2 + (e - m) ^ 2 end
  return m, math.sqrt(s2 / (#v - 1))
end

local function same_values(a, b)
  local fa, fb = H.flat(a), H.flat(b)
  if #fa ~= #fb then return false end
  for i = 1, #fa do if fa[i] ~= fb[i] then return false end end
  return true
end

-- ---------------------------------------------------------------- creation

TestTensorCreate = {}

function TestTensorCreate:setUp() lunet.manual_seed(5) end

function TestTensorCreate:test_zeros_table_and_varargs()
  for _, z in ipairs({ lunet.zeros{2, 3}, lunet.zeros(2, 3) }) do
    lu.assertEquals(z:shape(), {2, 3})
    H.assert_close(z, H.build({2, 3}, function() return 0 end), 0)
  end
  local s = lunet.zeros{}
  lu.assertEquals(s:dim(), 0)
  lu.assertEquals(s:numel(), 1)
  lu.assertEquals(s:item(), 0)
  lu.assertEquals(lunet.zeros{0, 4}:numel(), 0)
  lu.assertEquals(lunet.zeros{0, 4}:shape(), {0, 4})
end

function TestTensorCreate:test_ones_full_empty()
  H.assert_close(lunet.ones{3, 2}, H.build({3, 2}, function() return 1 end), 0)
  H.assert_close(lunet.ones(4), {1, 1, 1, 1}, 0)
  H.assert_close(lunet.full({2, 2, 2}, 2.5), H.build({2, 2, 2}, function() return 2.5 end), 0)
  H.assert_close(lunet.full({3}, -7), {-7, -7, -7}, 0)
  local e = lunet.empty{4, 5}
  lu.assertEquals(e:shape(), {4, 5})
  lu.assertEquals(e:numel(), 20)
  lu.assertTrue(e:is_contiguous())
  lu.assertEquals(lunet.empty(2, 3):shape(), {2, 3})
end

-- lunet's arange follows PyTorch: ceil((stop - start) / step) values
local function arange_ref(start, stop, step)
  local out, i = {}, 0
  while true do
    local v = start + i * step
    if (step > 0 and v >= stop) or (step < 0 and v <= stop) then break end
    out[#out + 1] = v
    i = i + 1
  end
  return out
end

function TestTensorCreate:test_arange()
  H.assert_close(lunet.arange(5), arange_ref(0, 5, 1), 0)
  H.assert_close(lunet.arange(2, 6), arange_ref(2, 6, 1), 0)
  H.assert_close(lunet.arange(1, 10, 3), arange_ref(1, 10, 3), 0)
  H.assert_close(lunet.arange(0, 1, 0.25), arange_ref(0, 1, 0.25), 0)
  H.assert_close(lunet.arange(1, 2, 0.3), arange_ref(1, 2, 0.3), 1e-6)
  H.assert_close(lunet.arange(5, 0, -1), arange_ref(5, 0, -1), 0)
  H.assert_close(lunet.arange(-1, -2, -0.25), arange_ref(-1, -2, -0.25), 0)
  lu.assertEquals(lunet.arange(1, 2, 0.3):numel(), 4)
  lu.assertEquals(lunet.arange(3, 1):numel(), 0)
  lu.assertEquals(lunet.arange(5):dim(), 1)
end

function TestTensorCreate:test_eye()
  local function eye_ref(n, m)
    return H.build({n, m}, function(i) return i[1] == i[2] and 1 or 0 end)
  end
  H.assert_close(lunet.eye(3), eye_ref(3, 3), 0)
  H.assert_close(lunet.eye(2, 4), eye_ref(2, 4), 0)
  H.assert_close(lunet.eye(4, 2), eye_ref(4, 2), 0)
  lu.assertEquals(lunet.eye(0):shape(), {0, 0})
end

function TestTensorCreate:test_rand_in_unit_interval()
  local v = H.flat(lunet.rand{100, 100})
  lu.assertEquals(#v, 10000)
  local lo, hi = math.huge, -math.huge
  for _, e in ipairs(v) do lo = math.min(lo, e); hi = math.max(hi, e) end
  lu.assertTrue(lo >= 0 and hi < 1, "rand outside [0,1): " .. lo .. " " .. hi)
  local m, s = mean_std(v)
  lu.assertAlmostEquals(m, 0.5, 0.02)
  lu.assertAlmostEquals(s, math.sqrt(1 / 12), 0.02)
  lu.assertEquals(lunet.rand(3, 4):shape(), {3, 4})
end

function TestTensorCreate:test_randn_moments()
  local v = H.flat(lunet.randn{100000})
  local m, s = mean_std(v)
  lu.assertAlmostEquals(m, 0, 0.02)
  lu.assertAlmostEquals(s, 1, 0.02)
  -- about 68.3% within one standard deviation
  local inside = 0
  for _, e in ipairs(v) do if math.abs(e) < 1 then inside = inside + 1 end end
  lu.assertAlmostEquals(inside / #v, 0.6827, 0.01)
  lu.assertEquals(lunet.randn(2, 5):shape(), {2, 5})
end

function TestTensorCreate:test_uniform()
  local v = H.flat(lunet.uniform({50, 40}, -2, 3))
  lu.assertEquals(#v, 2000)
  for _, e in ipairs(v) do lu.assertTrue(e >= -2 and e < 3) end
  local m = mean_std(v)
  lu.assertAlmostEquals(m, 0.5, 0.15)
  local d = H.flat(lunet.uniform({1000}))   -- defaults: [0, 1)
  for _, e in ipairs(d) do lu.assertTrue(e >= 0 and e < 1) end
end

function TestTensorCreate:test_tensor_from_tables()
  local src = H.build({2, 3, 4}, function(i) return i[1] * 100 + i[2] * 10 + i[3] + 0.5 end)
  local x = lunet.tensor(src)
  lu.assertEquals(x:shape(), {2, 3, 4})
  H.assert_close(x, src, 0)
  local v = lunet.tensor{1.5, -2, 3}
  lu.assertEquals(v:shape(), {3})
  H.assert_close(v, {1.5, -2, 3}, 0)
  local s = lunet.tensor(4.25)
  lu.assertEquals(s:dim(), 0)
  lu.assertEquals(s:item(), 4.25)
  local e = lunet.tensor{}
  lu.assertEquals(e:shape(), {0})
  lu.assertEquals(lunet.tensor{{}, {}}:shape(), {2, 0})
  -- float32 storage
  lu.assertEquals(lunet.tensor{0.1}:get{1}, H.f32(0.1))
end

function TestTensorCreate:test_like()
  local base = lunet.randn{3, 4}:t()   -- non-contiguous source
  local z = lunet.zeros_like(base)
  lu.assertEquals(z:shape(), {4, 3})
  H.assert_close(z, H.build({4, 3}, function() return 0 end), 0)
  H.assert_close(lunet.ones_like(base), H.build({4, 3}, function() return 1 end), 0)
  H.assert_close(lunet.full_like(base, 3.5), H.build({4, 3}, function() return 3.5 end), 0)
  lu.assertEquals(lunet.empty_like(base):shape(), {4, 3})
  local r = lunet.rand_like(base)
  lu.assertEquals(r:shape(), {4, 3})
  for _, e in ipairs(H.flat(r)) do lu.assertTrue(e >= 0 and e < 1) end
  lu.assertEquals(lunet.randn_like(base):shape(), {4, 3})
  lu.assertFalse(same_values(lunet.randn_like(base), lunet.randn_like(base)))
  lu.assertTrue(lunet.zeros_like(base):is_contiguous())
end

function TestTensorCreate:test_requires_grad_option()
  local made = {
    lunet.zeros({2, 3}, {requires_grad = true}),
    lunet.ones({2}, {requires_grad = true}),
    lunet.full({2}, 3, {requires_grad = true}),
    lunet.rand({2}, {requires_grad = true}),
    lunet.randn({2}, {requires_grad = true}),
    lunet.tensor({1, 2}, {requires_grad = true}),
  }
  for i, t in ipairs(made) do
    lu.assertTrue(t:requires_grad(), "creation " .. i)
    lu.assertTrue(t.is_leaf, "creation " .. i)
    lu.assertNil(t.grad_fn, "creation " .. i)
  end
  lu.assertFalse(lunet.zeros{2}:requires_grad())
  lu.assertFalse(lunet.zeros({2}, {requires_grad = false}):requires_grad())
end

-- the varargs shape form takes the same trailing options table
function TestTensorCreate:test_requires_grad_option_varargs_shape()
  lu.assertEquals(lunet.zeros(2, 3, {requires_grad = true}):shape(), {2, 3})
  lu.assertTrue(lunet.zeros(2, 3, {requires_grad = true}):requires_grad())
  lu.assertTrue(lunet.randn(4, {requires_grad = true}):requires_grad())
end

-- ---------------------------------------------------------------- random seeds

TestSeed = {}

-- what f(...) returns right after manual_seed(seed)
local function seeded(seed, f, ...)
  lunet.manual_seed(seed)
  return f(...)
end

function TestSeed:test_same_seed_same_draws()
  local function draws() return lunet.rand{20}, lunet.randn{7}, lunet.uniform({5}, -1, 1) end
  local a1, b1, c1 = seeded(1234, draws)
  local a2, b2, c2 = seeded(1234, draws)
  lu.assertTrue(same_values(a1, a2))
  lu.assertTrue(same_values(b1, b2))
  lu.assertTrue(same_values(c1, c2))
end

function TestSeed:test_reseed_resets_normal_pairs()
  -- an odd count leaves a spare normal; reseeding must forget it
  local a = seeded(7, lunet.randn, {3})
  local b = lunet.randn{3}
  local a2 = seeded(7, lunet.randn, {3})
  seeded(7, lunet.randn, {1})
  local a3 = seeded(7, lunet.randn, {3})
  lu.assertTrue(same_values(a, a2))
  lu.assertTrue(same_values(a, a3))
  lu.assertFalse(same_values(a, b))
end

function TestSeed:test_different_seed_different_draws()
  lu.assertFalse(same_values(seeded(1, lunet.rand, {16}), seeded(2, lunet.rand, {16})))
  lu.assertFalse(same_values(seeded(1, lunet.randn, {16}), seeded(2, lunet.randn, {16})))
end

function TestSeed:test_inplace_random_follows_seed()
  lunet.manual_seed(99)
  local a = lunet.empty{10}:uniform_(-3, 3)
  local b = lunet.empty{10}:normal_(1, 2)
  lunet.manual_seed(99)
  lu.assertTrue(same_values(a, lunet.empty{10}:uniform_(-3, 3)))
  lu.assertTrue(same_values(b, lunet.empty{10}:normal_(1, 2)))
end

-- ---------------------------------------------------------------- geometry

TestTensorGeometry = {}

function TestTensorGeometry:test_queries()
  local x = lunet.zeros{2, 3, 4}
  lu.assertEquals(x:shape(), {2, 3, 4})
  lu.assertEquals(x:size(), {2, 3, 4})
  lu.assertEquals(x:size(1), 2)
  lu.assertEquals(x:size(2), 3)
  lu.assertEquals(x:size(-1), 4)
  lu.assertEquals(x:size(-3), 2)
  lu.assertEquals(x:dim(), 3)
  lu.assertEquals(x:numel(), 24)
  lu.assertEquals(#x, 2)
  lu.assertEquals(x:stride(), {12, 4, 1})
  lu.assertTrue(x:is_contiguous())
  local t = x:transpose(1, 3)
  lu.assertEquals(t:shape(), {4, 3, 2})
  lu.assertEquals(t:stride(), {1, 4, 12})
  lu.assertFalse(t:is_contiguous())
  lu.assertEquals(#t, 4)
  local s = lunet.tensor(1)
  lu.assertEquals(s:shape(), {})
  lu.assertEquals(s:dim(), 0)
  lu.assertEquals(s:numel(), 1)
end

function TestTensorGeometry:test_shape_is_a_fresh_table()
  local x = lunet.zeros{2, 3}
  local s = x:shape()
  s[1] = 99
  lu.assertEquals(x:shape(), {2, 3})
  lu.assertNotIs(x:shape(), x:shape())
end

-- ---------------------------------------------------------------- element access

TestTensorAccess = {}

local function grid()
  local src = H.build({3, 4}, function(i) return i[1] * 10 + i[2] end)
  return lunet.tensor(src), src
end

function TestTensorAccess:test_get_and_index_table()
  local x, src = grid()
  for idx in H.indices({3, 4}) do
    lu.assertEquals(x:get(idx), src[idx[1]][idx[2]])
    lu.assertEquals(x[idx], src[idx[1]][idx[2]])
  end
  lu.assertEquals(x:get{-1, -1}, src[3][4])
  lu.assertEquals(x[{-3, 2}], src[1][2])
  lu.assertEquals(x:get{2, -4}, src[2][1])
end

function TestTensorAccess:test_set_and_newindex_table()
  local x = lunet.zeros{3, 4}
  local r = x:set({2, 3}, 5.5)
  lu.assertTrue(rawequal(r, x), "set returns the tensor")
  x[{3, 1}] = -1
  x:set({-1, -1}, 9)
  x[{-3, -4}] = 4
  local want = H.build({3, 4}, function() return 0 end)
  want[2][3], want[3][1], want[3][4], want[1][1] = 5.5, -1, 9, 4
  H.assert_close(x, want, 0)
end

function TestTensorAccess:test_integer_index_selects()
  local x, src = grid()
  local row = x[2]
  lu.assertTrue(lunet.is_tensor(row))
  lu.assertEquals(row:shape(), {4})
  H.assert_close(row, src[2], 0)
  H.assert_close(x[-1], src[3], 0)
  -- a 1-d tensor gives numbers
  lu.assertEquals(row[3], src[2][3])
  lu.assertEquals(row[-1], src[2][4])
  lu.assertEquals(type(row[1]), "number")
  -- a 3-d tensor gives a 2-d view
  local c = lunet.zeros{2, 3, 4}
  lu.assertEquals(c[2]:shape(), {3, 4})
  -- the selected row is a view: writes reach the parent
  row:fill_(0)
  for j = 1, 4 do lu.assertEquals(x:get{2, j}, 0) end
  lu.assertEquals(x:get{1, 1}, src[1][1])
end

function TestTensorAccess:test_index_on_strided_views()
  local x, src = grid()
  local t = x:t()                      -- {4, 3}
  for idx in H.indices({4, 3}) do
    lu.assertEquals(t:get(idx), src[idx[2]][idx[1]])
  end
  local col = t[2]                     -- column 2 of x, stride 4
  H.assert_close(col, {src[1][2], src[2][2], src[3][2]}, 0)
  lu.assertEquals(col[-1], src[3][2])
  col[1] = 100
  lu.assertEquals(x:get{1, 2}, 100)
  local n = x:narrow(2, 2, 2)          -- offset view
  lu.assertEquals(n:get{3, 1}, src[3][2])
  n:set({1, 2}, -5)
  lu.assertEquals(x:get{1, 3}, -5)
end

function TestTensorAccess:test_newindex_1d()
  local v = lunet.zeros{5}
  v[1] = 3
  v[-1] = 7
  v[3] = 1.5
  H.assert_close(v, {3, 0, 1.5, 0, 7}, 0)
end

-- a float with an integral value (n / 2 gives 3.0) works as an index or dim
function TestTensorAccess:test_integral_floats_accepted()
  local x, src = grid()
  lu.assertEquals(x:get{2.0, 3.0}, src[2][3])
  lu.assertEquals(x[{6 / 2, 4 / 2}], src[3][2])
  H.assert_close(x[4 / 2], src[2], 0)
  lu.assertEquals(x:size(4 / 2), 4)
  lu.assertEquals(lunet.zeros(6 / 2, 2.0):shape(), {3, 2})
  lu.assertEquals(x:view{12 / 2, 2}:shape(), {6, 2})
  H.raises("must be an integer, got 1.5", function() return x:get{1.5, 1} end)
end

function TestTensorAccess:test_item()
  lu.assertEquals(lunet.tensor(2.5):item(), 2.5)
  lu.assertEquals(lunet.tensor{{-3}}:item(), -3)
  lu.assertEquals(lunet.full({1, 1, 1}, 6):item(), 6)
  lu.assertEquals(lunet.tensor{1, 2, 3}:narrow(1, 2, 1):item(), 2)
  lu.assertEquals(type(lunet.tensor(1):item()), "number")
end

function TestTensorAccess:test_totable()
  local x, src = grid()
  lu.assertEquals(x:totable(), src)
  lu.assertEquals(lunet.tensor(3):totable(), 3)
  lu.assertEquals(lunet.zeros{0}:totable(), {})
  local want = H.build({4, 3}, function(i) return src[i[2]][i[1]] end)
  lu.assertEquals(x:t():totable(), want)
  lu.assertEquals(x:narrow(1, 2, 2):totable(), {src[2], src[3]})
end

-- ---------------------------------------------------------------- tostring

TestTensorPrint = {}

function TestTensorPrint:test_matrix_layout()
  lu.assertEquals(tostring(lunet.tensor{{1, 2}, {3, 4}}),
                  "tensor([[1., 2.],\n        [3., 4.]], shape={2,2})")
  lu.assertEquals(tostring(lunet.tensor{1, 2, 3}), "tensor([1., 2., 3.], shape={3})")
end

function TestTensorPrint:test_alignment_and_decimals()
  lu.assertEquals(tostring(lunet.tensor{-1, 10}), "tensor([-1., 10.], shape={2})")
  lu.assertEquals(tostring(lunet.tensor{0.5, 1.25}), "tensor([0.5000, 1.2500], shape={2})")
  lu.assertEquals(tostring(lunet.tensor{{0.5, -12.25}, {3, 4}}),
                  "tensor([[  0.5000, -12.2500],\n        [  3.0000,   4.0000]], shape={2,2})")
end

function TestTensorPrint:test_3d_blocks()
  local s = tostring(lunet.arange(8):view{2, 2, 2})
  lu.assertEquals(s, "tensor([[[0., 1.],\n         [2., 3.]],\n\n"
                  .. "        [[4., 5.],\n         [6., 7.]]], shape={2,2,2})")
end

function TestTensorPrint:test_zero_d_and_empty()
  lu.assertEquals(tostring(lunet.tensor(3.5)), "tensor(3.5000, shape={})")
  lu.assertEquals(tostring(lunet.tensor(3)), "tensor(3., shape={})")
  lu.assertEquals(tostring(lunet.zeros{0}), "tensor([], shape={0})")
  lu.assertEquals(tostring(lunet.zeros{2, 0}), "tensor([], shape={2,0})")
end

function TestTensorPrint:test_non_contiguous()
  lu.assertEquals(tostring(lunet.tensor{{1, 2}, {3, 4}}:t()),
                  "tensor([[1., 3.],\n        [2., 4.]], shape={2,2})")
end

function TestTensorPrint:test_summarised()
  local s = tostring(lunet.arange(2000))
  lu.assertEquals(s, "tensor([   0.,    1.,    2., ..., 1997., 1998., 1999.], shape={2000})")
  local m = tostring(lunet.arange(50 * 50):view{50, 50})
  lu.assertStrContains(m, "...")
  lu.assertStrContains(m, "shape={50,50}")
  lu.assertStrContains(m, "2499.")
  lu.assertNotStrContains(m, "1000.")
  local lines = select(2, m:gsub("\n", "\n")) + 1
  lu.assertTrue(lines <= 8, "summarised matrix has " .. lines .. " lines")
  -- exactly 1000 elements is still printed in full
  lu.assertNotStrContains(tostring(lunet.arange(1000)), "...")
end

function TestTensorPrint:test_grad_state_shown()
  local x = lunet.tensor({1, 2}, {requires_grad = true})
  lu.assertEquals(tostring(x), "tensor([1., 2.], shape={2}, requires_grad=true)")
  local y = x * 2
  lu.assertEquals(tostring(y), "tensor([2., 4.], shape={2}, grad_fn=<MulBackward>)")
  lu.assertStrContains(tostring(x:exp()), "grad_fn=<ExpBackward>")
  lu.assertNotStrContains(tostring(x:detach()), "requires_grad")
end

function TestTensorPrint:test_scientific_for_wide_ranges()
  local s = tostring(lunet.tensor{1e-5, 1, 1e5})
  lu.assertEquals(s, "tensor([1.0000e-05, 1.0000e+00, 1.0000e+05], shape={3})")
  lu.assertStrContains(tostring(lunet.tensor{0.5, 3e9}), "e+09")
  lu.assertStrContains(tostring(lunet.tensor{1e-6, 2e-6}), "e-06")
end

function TestTensorPrint:test_nonfinite()
  local s = tostring(lunet.tensor{1, 0} / lunet.tensor{0, 0})
  lu.assertStrContains(s, "inf")
  lu.assertStrContains(s, "nan")
end

-- ---------------------------------------------------------------- in-place writers

TestTensorInplace = {}

function TestTensorInplace:setUp() lunet.manual_seed(6) end

function TestTensorInplace:test_fill_()
  local x = lunet.zeros{2, 3}
  lu.assertTrue(rawequal(x:fill_(4.5), x))
  H.assert_close(x, H.build({2, 3}, function() return 4.5 end), 0)
  -- on a strided view only the view's elements change
  local base = lunet.zeros{3, 4}
  base:narrow(2, 2, 2):fill_(1)
  base:t()[4]:fill_(2)                  -- column 4
  H.assert_close(base, H.build({3, 4}, function(i)
    if i[2] == 4 then return 2 end
    return (i[2] == 2 or i[2] == 3) and 1 or 0
  end), 0)
  local s = lunet.tensor(0)
  s:fill_(3)
  lu.assertEquals(s:item(), 3)
end

function TestTensorInplace:test_copy_()
  local src = lunet.tensor(H.build({3, 4}, function(i) return i[1] * 4 + i[2] end))
  local x = lunet.zeros{3, 4}
  lu.assertTrue(rawequal(x:copy_(src), x))
  H.assert_close(x, src, 0)
  -- broadcast source
  local y = lunet.zeros{3, 4}:copy_(lunet.tensor{1, 2, 3, 4})
  H.assert_close(y, H.build({3, 4}, function(i) return i[2] end), 0)
  -- into a transposed view, from a transposed source
  local z = lunet.zeros{4, 3}
  z:t():copy_(src)
  H.assert_close(z, H.build({4, 3}, function(i) return i[2] * 4 + i[1] end), 0)
  local w = lunet.zeros{4, 3}:copy_(src:t())
  H.assert_close(w, z, 0)
end

function TestTensorInplace:test_uniform_and_normal_()
  local u = lunet.zeros{100, 50}
  lu.assertTrue(rawequal(u:uniform_(2, 5), u))
  for _, e in ipairs(H.flat(u)) do lu.assertTrue(e >= 2 and e < 5) end
  local v = H.flat(lunet.zeros{10000}:normal_(3, 2))
  local m, s = mean_std(v)
  lu.assertAlmostEquals(m, 3, 0.1)
  lu.assertAlmostEquals(s, 2, 0.1)
  local d = H.flat(lunet.zeros{20000}:normal_())
  local m0, s0 = mean_std(d)
  lu.assertAlmostEquals(m0, 0, 0.05)
  lu.assertAlmostEquals(s0, 1, 0.05)
  -- on a view: the rest is untouched
  local base = lunet.zeros{4, 4}
  base:narrow(1, 1, 2):uniform_(10, 11)
  for idx in H.indices({4, 4}) do
    local e = base:get(idx)
    if idx[1] <= 2 then lu.assertTrue(e >= 10 and e < 11) else lu.assertEquals(e, 0) end
  end
end

local writers = {
  set = function(x) x:set({1, 1}, 5) end,
  ["index assignment"] = function(x) x[{1, 1}] = 5 end,
  fill_ = function(x) x:fill_(5) end,
  copy_ = function(x) x:copy_(lunet.full({2, 2}, 5)) end,
  uniform_ = function(x) x:uniform_(5, 6) end,
  normal_ = function(x) x:normal_(5, 0.01) end,
}

function TestTensorInplace:test_writes_to_grad_tensors_error()
  for name, write in pairs(writers) do
    local x = lunet.zeros({2, 2}, {requires_grad = true})
    H.raises(name .. ": in-place write to a tensor that requires grad", write, x)
    lu.assertEquals(x:get{1, 1}, 0, name .. " wrote despite the error")
    local y = x * 2                        -- a non-leaf too (copy_ records instead)
    if name ~= "copy_" then H.raises("in-place write to a tensor that requires grad", write, y) end
  end
  local v = lunet.zeros({3}, {requires_grad = true})
  H.raises("index assignment: in-place write", function() v[1] = 2 end)
end

function TestTensorInplace:test_writes_allowed_under_no_grad()
  for name, write in pairs(writers) do
    local x = lunet.zeros({2, 2}, {requires_grad = true})
    lunet.no_grad(write, x)
    lu.assertTrue(x:get{1, 1} >= 4.9, name .. " did not write under no_grad")
    lu.assertTrue(x:requires_grad(), name)
  end
end

function TestTensorInplace:test_writes_allowed_on_plain_tensors()
  local x = lunet.zeros{2}
  x:set({1}, 1)
  x[2] = 2
  H.assert_close(x, {1, 2}, 0)
  -- a detached view of a grad tensor is plain
  local p = lunet.zeros({2}, {requires_grad = true})
  p:detach():fill_(3)
  H.assert_close(p, {3, 3}, 0)
end
