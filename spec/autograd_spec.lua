-- Autograd: accumulation, seeds, retain_graph, grad mode (no_grad,
-- set_grad_enabled), detach, shared subexpressions, very deep graphs, and
-- the leaf/grad_fn/requires_grad properties.  Expected gradients are
-- worked out by hand from the chain rule and computed in plain Lua.
local lu = require "luaunit"
local lunet = require "lunet"
local H = require "helpers"

-- elementwise map of a tensor's values into a nested table
local function map(x, f)
  local function rec(v)
    if type(v) == "table" then
      local o = {}
      for i, e in ipairs(v) do o[i] = rec(e) end
      return o
    end
    return f(v)
  end
  return rec(x:detach():totable())
end

TestAutograd = {}

function TestAutograd:setUp() lunet.manual_seed(31) end
function TestAutograd:tearDown() lunet.set_grad_enabled(true) end

function TestAutograd:test_simple_gradient()
  local x = H.leaf(lunet.randn{3, 2})
  local y = (x * x * 3):sum()   -- dy/dx = 6x
  y:backward()
  H.assert_close(x.grad, map(x, function(v) return 6 * v end), 1e-5)
  lu.assertEquals(x.grad:shape(), {3, 2})
end

function TestAutograd:test_grads_accumulate()
  local x = H.leaf(lunet.randn{4})
  local w = lunet.randn{4}
  ;(x * w):sum():backward()
  local held = x.grad
  H.assert_close(x.grad, w, 1e-6)
  ;(x * w):sum():backward()
  H.assert_close(x.grad, map(w, function(v) return 2 * v end), 1e-6)
  -- a second, different graph adds in too
  ;(x * x):sum():backward()
  local want = {}
  local xv, wv = H.flat(x:detach()), H.flat(w)
  for k = 1, 4 do want[k] = 2 * wv[k] + 2 * xv[k] end
  H.assert_close(x.grad, want, 1e-5)
  -- accumulation is in place, as in PyTorch: a held x.grad sees it
  H.assert_close(held, want, 1e-5)
end

function TestAutograd:test_grad_reset_with_nil()
  local x = H.leaf(lunet.randn{3})
  ;(x * 2):sum():backward()
  H.assert_close(x.grad, {2, 2, 2}, 0)
  x.grad = nil
  lu.assertNil(x.grad)
  ;(x * 5):sum():backward()
  H.assert_close(x.grad, {5, 5, 5}, 0)
end

function TestAutograd:test_assigned_grad_accumulates()
  local x = H.leaf(lunet.randn{2, 3})
  x.grad = lunet.ones{2, 3}
  ;(x * 2):sum():backward()
  H.assert_close(x.grad, {{3, 3, 3}, {3, 3, 3}}, 0)
end

-- an assigned non-contiguous gradient must accumulate element by element
function TestAutograd:test_assigned_strided_grad_accumulates()
  local x = H.leaf(lunet.randn{3, 4})
  local w = lunet.randn{3, 4}
  x.grad = lunet.zeros{4, 3}:t()
  ;(x * w):sum():backward()
  H.assert_close(x.grad, w, 1e-6)
end

-- an assigned expanded (stride 0) gradient must not make backward write
-- past its storage: either an error or a sane result.  Run in a child so
-- that under `make sanitize` an overflow fails this test, not the run.
function TestAutograd:test_assigned_expanded_grad_is_safe()
  local ok, out = H.run_lua([[
    local lunet = require "lunet"
    local x = lunet.randn{3, 64}:requires_grad(true)
    x.grad = lunet.zeros{1, 64}:expand(3, 64)
    local guard = lunet.zeros{1024}
    local fine, err = pcall(function() (x * 2):sum():backward() end)
    local gsum = 0
    for _, v in ipairs(guard:totable()) do gsum = gsum + math.abs(v) end
    print(fine and "backward ok" or ("backward error: " .. tostring(err)), "guard", gsum)
  ]])
  lu.assertTrue(ok, "child failed: " .. out)
  lu.assertStrContains(out, "guard\t0")
end

function TestAutograd:test_non_scalar_backward_needs_gradient()
  local x = H.leaf(lunet.randn{2, 3})
  local y = x * 2
  H.raises("grad can be implicitly created only for a 1-element tensor", function() y:backward() end)
  lu.assertNil(x.grad)
  -- 1-element tensors of any shape are fine
  local z = (x:sum()):view{1, 1}
  z:backward()
  H.assert_close(x.grad, {{1, 1, 1}, {1, 1, 1}}, 0)
end

function TestAutograd:test_backward_with_gradient()
  local x = H.leaf(lunet.randn{2, 3})
  local g = lunet.randn{2, 3}
  local y = x * x
  y:backward(g)   -- dx = 2 x g
  local xv, gv, want = x:detach():totable(), g:totable(), {}
  for i = 1, 2 do
    want[i] = {}
    for j = 1, 3 do want[i][j] = 2 * xv[i][j] * gv[i][j] end
  end
  H.assert_close(x.grad, want, 1e-5)
  -- a strided gradient works too
  x.grad = nil
  local gt = lunet.randn{3, 2}:t()
  ;(x * 3):backward(gt)
  H.assert_close(x.grad, map(gt, function(v) return 3 * v end), 1e-6)
end

function TestAutograd:test_backward_from_a_leaf()
  local x = H.leaf(lunet.tensor{2})
  x:backward()
  H.assert_close(x.grad, {1}, 0)
  local v = H.leaf(lunet.randn{3})
  local g = lunet.tensor{1, 2, 3}
  v:backward(g)
  H.assert_close(v.grad, {1, 2, 3}, 0)
end

function TestAutograd:test_retain_graph()
  local x = H.leaf(lunet.randn{3})
  local y = (x:exp() * x):sum()   -- d/dx = e^x (1 + x)
  y:backward({retain_graph = true})
  y:backward()
  local want = map(x, function(v) return 2 * math.exp(v) * (1 + v) end)
  H.assert_close(x.grad, want, 1e-5)
  -- the graph is freed now
  H.raises("retain_graph", function() y:backward() end)
  -- with a gradient and options both
  local z = x * 2
  x.grad = nil
  z:backward(lunet.ones{3}, {retain_graph = true})
  z:backward(lunet.ones{3})
  H.assert_close(x.grad, {4, 4, 4}, 0)
end

function TestAutograd:test_second_backward_without_retain_errors()
  local x = H.leaf(lunet.randn{2})
  local y = (x * x):sum()
  y:backward()
  local ok, err = pcall(function() y:backward() end)
  lu.assertFalse(ok)
  lu.assertStrContains(err, "retain_graph")
  lu.assertStrContains(err, "backward")
  -- the first backward's gradient is unchanged by the failed one
  H.assert_close(x.grad, map(x, function(v) return 2 * v end), 1e-6)
end

function TestAutograd:test_non_leaf_has_no_grad()
  local x = H.leaf(lunet.randn{3})
  local y = x * 2
  local z = (y * y):sum()
  z:backward()
  lu.assertNil(y.grad)
  lu.assertNil(z.grad)
  H.assert_close(x.grad, map(x, function(v) return 8 * v end), 1e-5)
  -- tensors that don't require grad get none
  local w = lunet.randn{3}
  local x2 = H.leaf(lunet.randn{3})
  ;(x2 * w):sum():backward()
  lu.assertNil(w.grad)
end

-- ---------------------------------------------------------------- grad mode

TestGradMode = {}

function TestGradMode:tearDown() lunet.set_grad_enabled(true) end

function TestGradMode:test_no_grad_returns_values()
  local a, b, c = lunet.no_grad(function(p, q) return p + q, "two", nil end, 1, 2)
  lu.assertEquals(a, 3)
  lu.assertEquals(b, "two")
  lu.assertNil(c)
  lu.assertEquals(select("#", lunet.no_grad(function() end)), 0)
end

function TestGradMode:test_no_grad_records_nothing()
  local x = H.leaf(lunet.randn{3})
  local y = lunet.no_grad(function()
    lu.assertFalse(lunet.is_grad_enabled())
    return (x * 2):exp() + x
  end)
  lu.assertTrue(lunet.is_grad_enabled())
  lu.assertNil(y.grad_fn)
  lu.assertFalse(y:requires_grad())
  lu.assertTrue(y.is_leaf)
  H.raises("does not require grad", function() y:sum():backward() end)
  -- views too
  local v = lunet.no_grad(function() return x:view{3, 1}:t() end)
  lu.assertNil(v.grad_fn)
end

function TestGradMode:test_no_grad_restores_on_error()
  lu.assertTrue(lunet.is_grad_enabled())
  local ok, err = pcall(lunet.no_grad, function() error("boom") end)
  lu.assertFalse(ok)
  lu.assertStrContains(err, "boom")
  lu.assertTrue(lunet.is_grad_enabled())
  -- an error inside an op inside no_grad too
  ok = pcall(lunet.no_grad, function() return lunet.zeros{2} + lunet.zeros{3} end)
  lu.assertFalse(ok)
  lu.assertTrue(lunet.is_grad_enabled())
  -- nested: the inner restores to the outer's mode
  lunet.no_grad(function()
    pcall(lunet.no_grad, function() error("x") end)
    lu.assertFalse(lunet.is_grad_enabled())
    lunet.enable_grad(function() lu.assertTrue(lunet.is_grad_enabled()) end)
    lu.assertFalse(lunet.is_grad_enabled())
  end)
  lu.assertTrue(lunet.is_grad_enabled())
end

function TestGradMode:test_enable_grad_inside_no_grad()
  local x = H.leaf(lunet.randn{2})
  local y = lunet.no_grad(function()
    return lunet.enable_grad(function() return x * 3 end)
  end)
  lu.assertEquals(y.grad_fn, "MulBackward")
  y:sum():backward()
  H.assert_close(x.grad, {3, 3}, 0)
end

function TestGradMode:test_set_grad_enabled()
  lu.assertTrue(lunet.is_grad_enabled())
  local prev = lunet.set_grad_enabled(false)
  lu.assertTrue(prev)
  lu.assertFalse(lunet.is_grad_enabled())
  local x = H.leaf(lunet.randn{2})
  local y = x * x
  lu.assertNil(y.grad_fn)
  lu.assertFalse(lunet.set_grad_enabled(true))
  lu.assertTrue(lunet.is_grad_enabled())
  lu.assertEquals((x * x).grad_fn, "MulBackward")
end

-- ---------------------------------------------------------------- graph shapes

TestGraph = {}

function TestGraph:setUp() lunet.manual_seed(32) end

function TestGraph:test_detach_stops_gradient()
  local x = H.leaf(lunet.randn{3})
  local y = (x * x):detach()
  lu.assertFalse(y:requires_grad())
  local z = (x * y):sum()   -- y is a constant: dz/dx = y = x^2
  z:backward()
  H.assert_close(x.grad, map(x, function(v) return H.f32(v * v) end), 1e-6)
  -- a detached leaf alone cannot be backpropagated
  H.raises("does not require grad", function() x:detach():sum():backward() end)
end

function TestGraph:test_diamond()
  local x = H.leaf(lunet.randn{4})
  local y = (x * x + x:exp()):sum()   -- 2x + e^x
  y:backward()
  H.assert_close(x.grad, map(x, function(v) return 2 * v + math.exp(v) end), 1e-5)
  -- a deeper diamond: a = 2x, b = a + a, c = b * a = 8x^2, dc/dx = 16x
  local w = H.leaf(lunet.randn{3})
  local a = w * 2
  local b = a + a
  local c = (b * a):sum()
  c:backward()
  H.assert_close(w.grad, map(w, function(v) return 16 * v end), 1e-5)
  -- the same tensor as both operands
  local u = H.leaf(lunet.randn{3})
  ;(u * u):sum():backward()
  H.assert_close(u.grad, map(u, function(v) return 2 * v end), 1e-6)
  -- one input feeding many branches
  local s = H.leaf(lunet.randn{2})
  local acc = s
  local terms = {}
  for k = 1, 10 do terms[k] = s * k end
  for k = 1, 10 do acc = acc + terms[k] end
  acc:sum():backward()
  H.assert_close(s.grad, {56, 56}, 0)   -- 1 + (1 + ... + 10)
end

function TestGraph:test_gradcheck_composite()
  H.gradcheck(function(a, b) return (a * b + a:exp()) / (b * b + 1) end,
              {H.leaf(lunet.randn{3, 2}), H.leaf(lunet.randn{3, 2})})
  H.gradcheck(function(a) return (a:t() * a:t()):tanh():view{-1} end,
              {H.leaf(lunet.randn{2, 3})})
end

function TestGraph:test_deep_chain()
  local n = 10000
  local c = H.f32(1.0001)
  local x = H.leaf(lunet.tensor{1.0})
  local y = x
  for _ = 1, n do y = y * 1.0001 end
  y:sum():backward()
  local want = c ^ n
  lu.assertAlmostEquals(y:item(), want, want * 1e-3)
  lu.assertAlmostEquals(x.grad:item(), want, want * 1e-3)
  -- the value is not just anything: 1.0001^10000 is about e
  lu.assertAlmostEquals(x.grad:item(), math.exp(1), 0.01)
end

function TestGraph:test_deep_chain_of_views_and_adds()
  local x = H.leaf(lunet.randn{4})
  local y = x
  for _ = 1, 3000 do y = (y + 0):view{2, 2}:view{4} end
  ;(y * 2):sum():backward()
  H.assert_close(x.grad, {2, 2, 2, 2}, 0)
end

-- in a child with a 2 MiB C stack: build y = x * 1.0 * ... * 1.0, a
-- 50,000-node graph, then run `tail`; returns ok, output
local function deep_graph_child(tail)
  return H.run_lua([[
    local lunet = require "lunet"
    local x = lunet.tensor{1}:requires_grad(true)
    local y = x
    for _ = 1, 50000 do y = y * 1.0 end
  ]] .. tail, 2048)
end

-- freeing a long graph that never saw backward must not recurse once
-- per node on the C stack
function TestGraph:test_deep_graph_freed_without_backward()
  local ok, out = deep_graph_child([[
    y = nil
    collectgarbage(); collectgarbage()
    print("freed", lunet.memory_allocated())
  ]])
  lu.assertTrue(ok, "process died freeing a 50,000-node graph: " .. out)
  lu.assertStrContains(out, "freed")
end

function TestGraph:test_deep_graph_backward_small_stack()
  local ok, out = deep_graph_child([[
    y:sum():backward()
    print("grad", x.grad:item())
  ]])
  lu.assertTrue(ok, "process died in backward of a 50,000-node graph: " .. out)
  lu.assertStrContains(out, "grad\t1.0")
end

-- ---------------------------------------------------------------- properties

TestGradProps = {}

function TestGradProps:test_requires_grad_query_and_set()
  local x = lunet.randn{2}
  lu.assertFalse(x:requires_grad())
  lu.assertTrue(rawequal(x:requires_grad(true), x))
  lu.assertTrue(x:requires_grad())
  x:requires_grad(false)
  lu.assertFalse(x:requires_grad())
  x.requires_grad = true
  lu.assertTrue(x:requires_grad())
  x.requires_grad = false
  lu.assertFalse(x:requires_grad())
  -- results of ops on grad tensors require grad
  local y = H.leaf(lunet.randn{2}) + 1
  lu.assertTrue(y:requires_grad())
  lu.assertTrue(y:requires_grad(true):requires_grad())
  lu.assertFalse((lunet.randn{2} + 1):requires_grad())
end

function TestGradProps:test_is_leaf()
  local x = H.leaf(lunet.randn{2})
  lu.assertTrue(x.is_leaf)
  lu.assertTrue(lunet.randn{2}.is_leaf)
  lu.assertFalse((x * 2).is_leaf)
  lu.assertFalse(x:view{2, 1}.is_leaf)
  lu.assertTrue(x:detach().is_leaf)
  lu.assertTrue((lunet.randn{2} * 2).is_leaf)   -- nothing needed grad
end

function TestGradProps:test_grad_fn_names()
  local x = H.leaf(lunet.randn{2, 2})
  lu.assertNil(x.grad_fn)
  local names = {
    {x + x, "AddBackward"}, {x - 1, "SubBackward"}, {x * x, "MulBackward"},
    {x / 2, "DivBackward"}, {x ^ 2, "PowBackward"}, {x:exp(), "ExpBackward"},
    {x:tanh(), "TanhBackward"}, {x:relu(), "ReluBackward"},
    {x:view{4}, "ViewBackward"}, {x:t(), "PermuteBackward"},
    {x:narrow(1, 1, 1), "NarrowBackward"}, {x:select(1, 1), "SelectBackward"},
    {x:expand(3, 2, 2), "ExpandBackward"}, {x:clone(), "CloneBackward"},
    {lunet.cat({x, x}, 1), "CatBackward"}, {x:clamp(0, 1), "ClampBackward"},
  }
  for _, p in ipairs(names) do
    lu.assertEquals(type(p[1].grad_fn), "string")
    lu.assertEquals(p[1].grad_fn, p[2])
  end
  for _, t in ipairs({x:sigmoid(), x:log(), x:sin(), lunet.where(x:gt(0), x, 0)}) do
    lu.assertEquals(type(t.grad_fn), "string")
    lu.assertStrContains(t.grad_fn, "Backward")
  end
end

function TestGradProps:test_grad_is_a_tensor_of_the_leaf_shape()
  local x = H.leaf(lunet.randn{2, 3}:t())
  lu.assertNil(x.grad)
  ;(x * 1):sum():backward()
  lu.assertTrue(lunet.is_tensor(x.grad))
  lu.assertEquals(x.grad:shape(), {3, 2})
  lu.assertFalse(x.grad:requires_grad())
end
