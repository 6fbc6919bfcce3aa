-- In-place arithmetic: add_, sub_, mul_, div_, clamp_, zero_,
-- masked_fill_, copy_, scatter_, scatter_add_, index_add_,
-- masked_scatter_.  Values, dtype rules, autograd through them (the op is
-- recorded on the tensor, as PyTorch does), and the version counter.
local lu = require "luaunit"
local lunet = require "lunet"
local H = require "helpers"

local function I(t) return lunet.tensor(t, { dtype = "int64" }) end

TestInplace = {}

function TestInplace:setUp() lunet.manual_seed(31) end

function TestInplace:test_values_and_returns_self()
  local x = lunet.tensor{ 1, 2, 3 }
  lu.assertTrue(rawequal(x:add_(1), x))
  H.assert_close(x, { 2, 3, 4 }, 0)
  H.assert_close(x:sub_(lunet.tensor{ 1, 1, 1 }), { 1, 2, 3 }, 0)
  H.assert_close(x:mul_(2), { 2, 4, 6 }, 0)
  H.assert_close(x:div_(lunet.tensor{ 2 }), { 1, 2, 3 }, 0)      -- broadcast operand
  H.assert_close(x:clamp_(1.5, 2.5), { 1.5, 2, 2.5 }, 0)
  H.assert_close(x:masked_fill_(lunet.tensor{ true, false, true }, 0), { 0, 2, 0 }, 0)
  H.assert_close(x:zero_(), { 0, 0, 0 }, 0)
  H.assert_close(x:copy_(I{ 4, 5, 6 }), { 4, 5, 6 }, 0)           -- converts
  H.assert_close(x:scatter_(1, I{ 2 }, 9), { 4, 9, 6 }, 0)
  H.assert_close(x:scatter_add_(1, I{ 1, 1 }, lunet.tensor{ 1, 1 }), { 6, 9, 6 }, 0)
  H.assert_close(x:index_add_(1, I{ 3 }, lunet.tensor{ 4 }), { 6, 9, 10 }, 0)
  H.assert_close(x:masked_scatter_(lunet.tensor{ false, true, true }, lunet.tensor{ 1, 2 }), { 6, 1, 2 }, 0)
  -- into a view: the base sees it
  local base = lunet.zeros{ 2, 3 }
  base:narrow(2, 2, 2):add_(5)
  H.assert_close(base, { { 0, 5, 5 }, { 0, 5, 5 } }, 0)
  base:t()[1]:mul_(2)
  H.assert_close(base, { { 0, 5, 5 }, { 0, 5, 5 } }, 0)
end

function TestInplace:test_integer_tensors()
  local i = I{ 1, 2, 3 }
  i:add_(1)
  i:mul_(I{ 2, 2, 2 })
  lu.assertEquals(i:totable(), { 4, 6, 8 })
  lu.assertEquals(i.dtype, "int64")
  i:copy_(lunet.tensor{ 1.9, -1.9, 0 })                             -- copy_ converts (truncates)
  lu.assertEquals(i:totable(), { 1, -1, 0 })
  H.raises("add_: a float32 result cannot be written into an int64 tensor", i.add_, i, 0.5)
  H.raises("div_: a float32 result cannot be written into an int64 tensor", i.div_, i, 2)
  local f = lunet.zeros{ 3 }
  f:add_(I{ 1, 2, 3 })                                              -- int into float: fine
  H.assert_close(f, { 1, 2, 3 }, 0)
  H.raises("add_: the result has shape {2,3}, the tensor written in place {3}",
           f.add_, f, lunet.zeros{ 2, 3 })
end

function TestInplace:test_autograd_through_in_place_ops()
  local w = H.leaf(lunet.randn{ 3 })
  H.gradcheck(function(w)
    local y = w * 2
    y:add_(1)
    y:mul_(w)
    y:sub_(w:exp())
    y:div_(w * w + 1)
    return y:clamp_(-2, 2)
  end, { w })
  -- the operand that requires grad may be the other one
  local v = H.leaf(lunet.randn{ 3 })
  H.gradcheck(function(v) return lunet.zeros{ 3 }:add_(v):mul_(v) end, { v })
  H.gradcheck(function(v) return lunet.ones{ 2, 3 }:copy_(v) end, { v })
  H.gradcheck(function(v) return (v * 1):masked_fill_(lunet.tensor{ true, false, false }, 3) * v end, { v })
  H.gradcheck(function(v) return lunet.zeros{ 4 }:index_add_(1, I{ 2, 2, 4 }, v) end, { v })
  w.grad = nil
  local y = w * 3
  y:mul_(2)
  lu.assertEquals(y.grad_fn, "MulBackward")
  y:sum():backward()
  H.assert_close(w.grad, { 6, 6, 6 }, 1e-6)
end

function TestInplace:test_rules_of_recording()
  local w = H.leaf(lunet.randn{ 3 })
  H.raises("add_: in-place write to a tensor that requires grad (wrap it in lunet.no_grad)",
           w.add_, w, 1)
  lunet.no_grad(function() w:add_(1) end)                           -- an optimiser step
  lu.assertTrue(w.is_leaf)
  -- a view shares storage with its base: the graph could not follow the write
  local y = w * 1
  local row = y:narrow(1, 1, 2)
  H.raises("mul_: cannot record an in-place write into a tensor whose storage another tensor shares",
           row.mul_, row, 2)
  -- a value saved for backward, written later: backward refuses (version counter)
  local a = w * 1
  local b = (a * a):sum()
  lunet.no_grad(function() a:add_(1) end)
  H.raises("was written in place after it was saved", b.backward, b)
  -- a module's output saved by the next op is written (recorded: the write
  -- is not refused, as in PyTorch), and backward refuses, at its caller's
  -- line, with the README's message
  local lin = lunet.nn.Linear(3, 3)
  local h = lin(lunet.randn{ 2, 3 })
  local loss = (h * h):sum()
  h:add_(1)
  lu.assertEquals(h.grad_fn, "AddBackward")
  local msg = "backward: a tensor MulBackward saved was written in place after it was saved "
              .. "(version 1, saved at 0): the gradient would be wrong"
  H.raises_here(msg, function() loss:backward() end)
  lu.assertNil(lin.weight.grad)
  -- zero_ leaves the graph: nothing flows back
  local z = w * 2
  z:zero_()
  lu.assertNil(z.grad_fn)
end

-- an error inside an in-place op is the in-place op's (not the
-- out-of-place op it runs), reported at the line that called it
function TestInplace:test_errors_are_the_in_place_ops_at_the_callers_line()
  local x = lunet.zeros{ 3 }
  H.raises_here("add_: shapes {3} and {5} do not broadcast (3 ~= 5 in dim 1)", function() x:add_(lunet.ones{ 5 }) end)
  H.raises_here("mul_: argument 2 must be a tensor or number, got string", function() x:mul_("a") end)
  H.raises_here("clamp_: min must be a number, got string", function() x:clamp_("a") end)
  H.raises_here("clamp_: at least one of min and max must be given", function() x:clamp_() end)
  H.raises_here("masked_fill_: shapes {3} and {2} do not broadcast", function() x:masked_fill_(lunet.tensor{ true, false }, 1) end)
  H.raises_here("masked_fill_: value must be a number, got table", function() x:masked_fill_(lunet.tensor{ true, false, true }, {}) end)
  H.raises_here("index_add_: index 9 out of range for dim 1 of size 3", function() x:index_add_(1, I{ 9 }, lunet.ones{ 1 }) end)
  H.raises_here("scatter_: index 4 out of range", function() x:scatter_(1, I{ 4 }, 1) end)
  H.raises_here("scatter_add_: dim 2 out of range for a 1-d tensor", function() x:scatter_add_(2, I{ 1 }, lunet.ones{ 1 }) end)
  H.raises_here("masked_scatter_: the mask selects 3 elements, src has only 1", function() x:masked_scatter_(lunet.tensor{ true, true, true }, lunet.ones{ 1 }) end)
  H.raises_here("div_: a float32 result cannot be written into an int64 tensor", function() I{ 1 }:div_(2) end)
  H.raises_here("add_: in-place write to a tensor that requires grad", function() H.leaf(lunet.zeros{ 2 }):add_(1) end)
  H.raises_here("sub_: the result has shape {2,3}, the tensor written in place {3}", function() x:sub_(lunet.zeros{ 2, 3 }) end)
  -- the tensor is left as it was, and the next op works
  lu.assertEquals(x:totable(), { 0, 0, 0 })
  lu.assertEquals(x:add_(1):totable(), { 1, 1, 1 })
end

TestRandom = {}

function TestRandom:setUp() lunet.manual_seed(41) end

function TestRandom:test_randint_randperm()
  local r = lunet.randint(-3, 4, { 2000 })
  lu.assertEquals(r.dtype, "int64")
  lu.assertEquals(r:min():item(), -3)
  lu.assertEquals(r:max():item(), 3)
  local counts = {}
  for _, v in ipairs(r:totable()) do counts[v] = (counts[v] or 0) + 1 end
  for v = -3, 3 do lu.assertTrue(counts[v] > 200 and counts[v] < 380, "randint uniform: " .. v) end
  lu.assertEquals(lunet.randint(5, { 2, 3 }):shape(), { 2, 3 })
  lu.assertEquals(lunet.randint(0, 2, { 3 }, { dtype = "float32" }).dtype, "float32")
  local p = lunet.randperm(10)
  local sorted = p:sort():totable()
  for i = 1, 10 do lu.assertEquals(sorted[i], i) end               -- a permutation of 1..10
  lu.assertEquals(lunet.randperm(0):shape(), { 0 })
  H.raises("randint: high 3 must be greater than low 3", lunet.randint, 3, 3, { 2 })
  H.raises("randperm: n must be >= 0, got -1", lunet.randperm, -1)
end

function TestRandom:test_multinomial_bernoulli()
  local probs = lunet.tensor{ 0.1, 0, 0.6, 0.3 }
  local d = lunet.multinomial(probs, 4000, { replacement = true })
  local counts = { 0, 0, 0, 0 }
  for _, v in ipairs(d:totable()) do counts[v] = counts[v] + 1 end
  lu.assertEquals(counts[2], 0)                                      -- probability 0: never
  lu.assertAlmostEquals(counts[3] / 4000, 0.6, 0.03)
  lu.assertAlmostEquals(counts[1] / 4000, 0.1, 0.02)
  local w = lunet.multinomial(lunet.tensor{ { 1, 1, 1, 0 }, { 0, 5, 1, 1 } }, 3)   -- without replacement
  for r = 1, 2 do
    local seen = {}
    for _, v in ipairs(w:totable()[r]) do lu.assertNil(seen[v]); seen[v] = true end
  end
  H.raises("multinomial: 4 draws without replacement from 3 categories with nonzero probability",
           lunet.multinomial, probs, 4)
  H.raises("multinomial: probabilities must be finite and >= 0, got -1", lunet.multinomial, lunet.tensor{ 1, -1 }, 1)
  H.raises("multinomial: row 1 of the probabilities sums to 0", lunet.multinomial, lunet.zeros{ 3 }, 1)
  local b = lunet.bernoulli(lunet.full({ 4000 }, 0.25))
  lu.assertEquals(b.dtype, "float32")
  lu.assertAlmostEquals(b:mean():item(), 0.25, 0.03)
  lu.assertEquals(lunet.bernoulli(lunet.tensor{ 0, 1 }):totable(), { 0, 1 })
  H.raises("bernoulli: probabilities must be in [0, 1], got 1.5", lunet.bernoulli, lunet.tensor{ 1.5 })
end

function TestRandom:test_rng_state_replays_every_draw()
  local state = lunet.get_rng_state()
  lu.assertEquals(state.dtype, "uint8")
  local function draws()
    return { lunet.rand{ 3 }:totable(), lunet.randn{ 3 }:totable(), lunet.randint(0, 100, { 3 }):totable(),
             lunet.randperm(5):totable(), lunet.dropout(lunet.ones{ 8 }, 0.5):totable(),
             lunet.multinomial(lunet.ones{ 6 }, 2):totable() }
  end
  local a = draws()
  lunet.set_rng_state(state)
  lu.assertEquals(draws(), a)
  -- mid-pair of Box-Muller normals too
  lunet.randn{ 1 }
  local mid = lunet.get_rng_state()
  local n1 = lunet.randn{ 3 }:totable()
  lunet.set_rng_state(mid)
  lu.assertEquals(lunet.randn{ 3 }:totable(), n1)
  H.raises("set_rng_state: expected a uint8 tensor of 41 bytes", lunet.set_rng_state, lunet.zeros{ 41 })
  H.raises("set_rng_state: not a generator state (all-zero state)", lunet.set_rng_state,
           lunet.zeros({ 41 }, { dtype = "uint8" }))
end
