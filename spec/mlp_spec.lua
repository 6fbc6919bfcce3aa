-- The fused MLP, lunet.mlp(x, w1, b1, w2, b2, {approximate=}): held to
-- its oracle, the composition linear -> gelu -> linear, in values and in
-- gradients (odd shapes, batched input, no biases, either GELU, weights
-- in either layout), gradients against finite differences, its errors,
-- the autograd rules it keeps (saved tensors version-checked, retain_graph)
-- and the thread count not changing a bit; then nn.MLP, the transformer's
-- mlp: its names, when it fuses, and what lunet.profile counts for it.
local lu = require "luaunit"
local lunet = require "lunet"
local H = require "helpers"
local nn = lunet.nn

TestMLP = {}

function TestMLP:setUp() lunet.manual_seed(3) end

local function composed(x, w1, b1, w2, b2, approx)
  return lunet.linear(lunet.gelu(lunet.linear(x, w1, b1), approx), w2, b2)
end

-- leaves of the given shapes (nil shape: nil), scaled so GELU sees both
-- of its sides
local function leaves(...)
  local out = {}
  for i, shape in ipairs { ... } do
    out[i] = shape and H.leaf(lunet.randn(shape) * (#shape == 2 and 0.5 or 1)) or false
  end
  return out
end

local function grads(ts)
  local g = {}
  for i, t in ipairs(ts) do
    g[i] = t and t.grad or false
    if t then t.grad = nil end
  end
  return g
end

-- y and every gradient of the fused op against the composition; view(t)
-- (default: t itself) is what each op is given for input t, so that a
-- view's gradient is checked on its base
local function check_against_composed(x, w1, b1, w2, b2, approx, tol, view)
  local base = { x, w1, b1, w2, b2 }
  local function args()
    local a = {}
    for i = 1, 5 do a[i] = base[i] and (view and view(i, base[i]) or base[i]) or nil end
    return a[1], a[2], a[3], a[4], a[5]
  end
  local a1, a2, a3, a4, a5 = args()
  local y = lunet.mlp(a1, a2, a3, a4, a5, approx and { approximate = approx } or nil)
  a1, a2, a3, a4, a5 = args()
  local y0 = composed(a1, a2, a3, a4, a5, approx)
  lu.assertEquals(y:shape(), y0:shape())
  H.assert_close(y, y0, tol)
  local gy = lunet.randn(y:shape())
  y:backward(gy)
  local g = grads(base)
  y0:backward(gy)
  local g0 = grads(base)
  for i = 1, 5 do
    if base[i] and base[i]:requires_grad() then H.assert_close(g[i], g0[i], tol, "gradient " .. i) end
  end
end

function TestMLP:test_equals_the_composition()
  for _, approx in ipairs { false, "none", "tanh" } do
    for _, s in ipairs { { 2, 5, 7, 3 }, { 1, 1, 1, 1 }, { 37, 13, 70, 9 }, { 300, 16, 40, 24 } } do
      local M, K, Hd, N = table.unpack(s)
      local x, w1, b1, w2, b2 = table.unpack(leaves({ M, K }, { Hd, K }, { Hd }, { N, Hd }, { N }))
      check_against_composed(x, w1, b1, w2, b2, approx or nil, 1e-5)
    end
  end
end

-- batched input, a 1-d input, no biases, weights read transposed in place,
-- an input that is not contiguous
function TestMLP:test_shapes_layouts_and_no_bias()
  local x, w1, b1, w2, b2 = table.unpack(leaves({ 3, 5, 6 }, { 8, 6 }, { 8 }, { 4, 8 }, { 4 }))
  check_against_composed(x, w1, b1, w2, b2, "tanh", 1e-5)
  check_against_composed(x, w1, false, w2, false, nil, 1e-5)
  check_against_composed(x, w1, b1, w2, false, nil, 1e-5)
  check_against_composed(x, w1, false, w2, b2, "tanh", 1e-5)
  check_against_composed(H.leaf(lunet.randn { 6 }), w1, b1, w2, b2, nil, 1e-5)
  local xt, w1t, w2t = H.leaf(lunet.randn { 5, 3, 6 }), H.leaf(lunet.randn { 6, 8 }), H.leaf(lunet.randn { 8, 4 })
  check_against_composed(xt, w1t, b1, w2t, b2, nil, 1e-5, function(i, t)
    if i == 1 then return t:transpose(1, 2) end
    return (i == 2 or i == 4) and t:t() or t
  end)
  lu.assertEquals(lunet.mlp(lunet.randn { 2, 0, 6 }, w1, b1, w2, b2):shape(), { 2, 0, 4 })
end

-- only some inputs need gradients: the others get none, the rest are right
function TestMLP:test_some_inputs_need_grad()
  for _, which in ipairs { { 1 }, { 2 }, { 3 }, { 4 }, { 5 }, { 4, 5 }, { 1, 4 } } do
    local t = leaves({ 4, 5 }, { 6, 5 }, { 6 }, { 3, 6 }, { 3 })
    for i = 1, 5 do t[i]:requires_grad(false) end
    for _, i in ipairs(which) do t[i]:requires_grad(true) end
    check_against_composed(t[1], t[2], t[3], t[4], t[5], nil, 1e-5)
    for i = 1, 5 do
      if not t[i]:requires_grad() then lu.assertNil(t[i].grad) end
    end
  end
end

function TestMLP:test_gradcheck()
  for _, approx in ipairs { "none", "tanh" } do
    local x, w1, b1, w2, b2 = table.unpack(leaves({ 2, 3, 4 }, { 5, 4 }, { 5 }, { 3, 5 }, { 3 }))
    local opts = { approximate = approx }
    H.gradcheck(function(x, w1, b1, w2, b2) return lunet.mlp(x, w1, b1, w2, b2, opts) end,
                { x, w1, b1, w2, b2 })
    H.gradcheck(function(x, w1, w2) return lunet.mlp(x, w1, nil, w2, nil, opts) end, { x, w1, w2 })
  end
end

-- with a residual r, r + mlp(x): the same values as the add after it, r's
-- gradient is the output's, and the rest as without it
function TestMLP:test_residual()
  for _, approx in ipairs { "none", "tanh" } do
    local x, w1, b1, w2, b2, r = table.unpack(leaves({ 2, 3, 4 }, { 5, 4 }, { 5 }, { 3, 5 }, { 3 }, { 2, 3, 3 }))
    local y = lunet.mlp(x, w1, b1, w2, b2, { approximate = approx, residual = r })
    local y0 = r + composed(x, w1, b1, w2, b2, approx)
    H.assert_close(y, y0, 1e-6)
    local gy = lunet.randn(y:shape())
    y:backward(gy)
    local g = grads { x, w1, b1, w2, b2, r }
    y0:backward(gy)
    local g0 = grads { x, w1, b1, w2, b2, r }
    for i = 1, 6 do H.assert_close(g[i], g0[i], 1e-5) end
    H.assert_close(g[6], gy, 0)
    H.gradcheck(function(x, w1, b1, w2, b2, r)
      return lunet.mlp(x, w1, b1, w2, b2, { approximate = approx, residual = r })
    end, { x, w1, b1, w2, b2, r })
    H.gradcheck(function(x, w1, w2, r)                -- no biases, a transposed residual
      return lunet.mlp(x, w1, nil, w2, nil, { residual = r:transpose(1, 2) })
    end, { x, w1, w2, H.leaf(lunet.randn { 3, 2, 3 }) })
  end
  local z = lunet.zeros
  H.raises("mlp: residual {2,4} does not match the output {2,3}",
           lunet.mlp, z { 2, 4 }, z { 8, 4 }, nil, z { 3, 8 }, nil, { residual = z { 2, 4 } })
  H.raises("mlp: residual must be a tensor, got number",
           lunet.mlp, z { 2, 4 }, z { 8, 4 }, nil, z { 3, 8 }, nil, { residual = 1 })
end

-- the chunks the pool runs (make test cuts them small) add up to the same
-- bits on any thread count, for y and every gradient the chunks make; the
-- weights' gradients, one sgemm over all rows as linear's are, repeat bit
-- for bit on a given count and agree across counts to rounding
function TestMLP:test_same_bits_on_any_thread_count()
  local threads = lunet.get_num_threads()
  local function run(n)
    lunet.set_num_threads(n)
    lunet.manual_seed(9)
    local x, w1, b1, w2, b2 = table.unpack(leaves({ 700, 24 }, { 96, 24 }, { 96 }, { 24, 96 }, { 24 }))
    local y = lunet.mlp(x, w1, b1, w2, b2)
    y:backward(lunet.ones_like(y))
    return { y = y:flatten(1, -1):totable(), x = x.grad:flatten(1, -1):totable(),
             b1 = b1.grad:totable(), b2 = b2.grad:totable(), w1 = w1.grad, w2 = w2.grad }
  end
  local one, two, again = run(1), run(2), run(2)
  lunet.set_num_threads(threads)
  for _, k in ipairs { "y", "x", "b1", "b2" } do
    lu.assertEquals(two[k], one[k], k .. ": 1 and 2 threads")
  end
  for _, k in ipairs { "w1", "w2" } do
    lu.assertEquals(again[k]:totable(), two[k]:totable(), k .. ": 2 threads, twice")
    H.assert_close(two[k], one[k], 1e-5, k .. ": 1 and 2 threads")
  end
end

function TestMLP:test_no_grad_records_nothing()
  local x, w1, b1, w2, b2 = table.unpack(leaves({ 3, 4 }, { 6, 4 }, { 6 }, { 2, 6 }, { 2 }))
  local y = lunet.no_grad(function() return lunet.mlp(x, w1, b1, w2, b2) end)
  lu.assertFalse(y:requires_grad())
  H.assert_close(y, lunet.no_grad(function() return composed(x, w1, b1, w2, b2) end), 1e-6)
  lu.assertEquals(tostring(lunet.mlp(x, w1, b1, w2, b2).grad_fn):match("MlpBackward"), "MlpBackward")
end

-- retain_graph: a second backward adds the same gradients again; a weight
-- written in place since forward is refused, as for any saved tensor
function TestMLP:test_retain_graph_and_version_check()
  local x, w1, b1, w2, b2 = table.unpack(leaves({ 3, 4 }, { 6, 4 }, { 6 }, { 2, 6 }, { 2 }))
  local y = lunet.mlp(x, w1, b1, w2, b2):sum()
  y:backward(nil, { retain_graph = true })
  local g1 = w1.grad:clone()
  y:backward()
  H.assert_close(w1.grad, g1 * 2, 1e-6)
  local z = lunet.mlp(x, w1, b1, w2, b2):sum()
  lunet.no_grad(function() w2:mul_(2) end)
  H.raises("backward: a tensor MlpBackward saved was written in place after it was saved", function() z:backward() end)
end

function TestMLP:test_errors_name_the_op_and_shapes()
  local z = lunet.zeros
  H.raises("mlp: input {2,3} does not match w1 {8,4} (in_features 4)",
           lunet.mlp, z { 2, 3 }, z { 8, 4 }, nil, z { 4, 8 })
  H.raises("mlp: w2 {4,7} does not match w1 {8,4} (w2 must have 8 columns, the hidden features)",
           lunet.mlp, z { 2, 4 }, z { 8, 4 }, nil, z { 4, 7 })
  H.raises("mlp: b1 {7} does not match w1 {8,4} (hidden features 8)",
           lunet.mlp, z { 2, 4 }, z { 8, 4 }, z { 7 }, z { 4, 8 })
  H.raises("mlp: b2 {3} does not match w2 {4,8} (out_features 4)",
           lunet.mlp, z { 2, 4 }, z { 8, 4 }, nil, z { 4, 8 }, z { 3 })
  H.raises("mlp: weights must be 2-d, got w1 {8} and w2 {4,8}",
           lunet.mlp, z { 2, 4 }, z { 8 }, nil, z { 4, 8 })
  H.raises("mlp: approximate must be 'none' or 'tanh', got 'erf'",
           lunet.mlp, z { 2, 4 }, z { 8, 4 }, nil, z { 4, 8 }, nil, { approximate = "erf" })
  H.raises("mlp: unknown option 'approx' (did you mean 'approximate'?)",
           lunet.mlp, z { 2, 4 }, z { 8, 4 }, nil, z { 4, 8 }, nil, { approx = "tanh" })
  -- at the user's line, naming the module, when nn.MLP calls it
  local m = nn.MLP(4, 8)
  local line = debug.getinfo(1, "l").currentline + 1
  local ok, err = pcall(function() return m(z { 2, 3 }) end)
  lu.assertFalse(ok)
  lu.assertStrContains(err, "mlp_spec.lua:" .. line .. ": mlp: input {2,3} does not match w1 {8,4}")
end

-- ---------------------------------------------------------------- nn.MLP

TestMLPModule = {}

function TestMLPModule:setUp() lunet.manual_seed(4) end

function TestMLPModule:test_names_and_options()
  local m = nn.MLP(4, 8)
  lu.assertEquals(H.param_names(m), { "0.weight", "0.bias", "2.weight", "2.bias" })
  lu.assertEquals(m[3].out_features, 4)
  lu.assertEquals(m[2].approximate, "none")
  local t = nn.MLP { 4, 8, 5, bias = false, approximate = "tanh" }
  lu.assertEquals(H.param_names(t), { "0.weight", "2.weight" })
  lu.assertEquals(t[3].out_features, 5)
  lu.assertEquals(t[2].approximate, "tanh")
  lu.assertStrContains(tostring(m), "MLP(")
  H.raises("GELU: approximate must be 'none' or 'tanh', got erf", function() return nn.MLP(4, 8, 4, true, "erf") end)
  -- the transformer's mlp keeps the names its checkpoints have always had
  local block = nn.TransformerBlock { 16, 2 }
  local keys = {}
  for k in pairs(block:state_dict()) do if k:find("^mlp") then keys[#keys + 1] = k end end
  table.sort(keys)
  lu.assertEquals(keys, { "mlp.0.bias", "mlp.0.weight", "mlp.2.bias", "mlp.2.weight" })
  lu.assertEquals(block.mlp:class_name(), "MLP")
end

-- fused while it can be: the same values and gradients as its children run
-- in turn; a forward hook on a child, or a child replaced, runs them in turn
-- a transformer block folds its second residual add into the fused MLP
-- when no dropout or hook stands between; the result is the one the
-- separate add gives (a hook on the mlp makes the block add it itself)
function TestMLPModule:test_block_folds_the_residual()
  local block = nn.TransformerBlock { d_model = 16, num_heads = 2 }
  local x = H.leaf(lunet.randn { 2, 5, 16 })
  local y = block(x)
  lu.assertEquals(tostring(y.grad_fn), "MlpBackward")           -- folded: no add of its own
  y:sum():backward()
  local gx, gw = x.grad, block.mlp[1].weight.grad
  x.grad = nil
  block:zero_grad()
  local seen
  local handle = block.mlp:register_forward_hook(function(_, _, out) seen = out end)
  local y0 = block(x)
  lu.assertEquals(tostring(y0.grad_fn), "AddBackward")
  y0:sum():backward()
  handle:remove()
  -- dropout while training stands between the MLP and the add, too
  local dropped = nn.TransformerBlock { d_model = 16, num_heads = 2, dropout = 0.1 }
  lu.assertEquals(tostring(dropped(x).grad_fn), "AddBackward")
  dropped:eval()
  lu.assertEquals(tostring(dropped(x).grad_fn), "MlpBackward")
  H.assert_close(y, y0, 0)         -- the same bits: the residual is added after the product
  H.assert_close(x.grad, gx, 1e-5)
  H.assert_close(block.mlp[1].weight.grad, gw, 1e-5)
  -- the hook saw the MLP's own output, not the sum: y0 - seen is the
  -- block's input to its second residual, x + attention
  local mid = x + block.dropout(block.attn(block.ln_1(x)))
  H.assert_close(y0 - seen, mid, 1e-5)
  H.assert_close(seen, block.mlp(block.ln_2(mid)), 1e-6)
end

function TestMLPModule:test_fuses_unless_a_child_needs_its_own_forward()
  local m = nn.MLP { 6, 10, approximate = "tanh" }
  local x = H.leaf(lunet.randn { 2, 3, 6 })
  local y = m(x)
  lu.assertStrContains(tostring(y.grad_fn), "MlpBackward")
  local y0 = composed(x, m[1].weight, m[1].bias, m[3].weight, m[3].bias, "tanh")
  H.assert_close(y, y0, 1e-6)
  local seen
  local h = m[2]:register_forward_hook(function(_, _, out) seen = out end)
  local yh = m(x)
  lu.assertEquals(seen:shape(), { 2, 3, 10 })
  lu.assertStrContains(tostring(yh.grad_fn), "LinearBackward")
  H.assert_close(yh, y0, 1e-6)
  h:remove()
  m[2] = nn.ReLU()
  local yr = m(x)
  lu.assertStrContains(tostring(yr.grad_fn), "LinearBackward")
  H.assert_close(yr, lunet.linear(lunet.relu(lunet.linear(x, m[1].weight, m[1].bias)), m[3].weight,
                                  m[3].bias), 1e-6)
end

-- lunet.profile sees the three children as if each had run: their rows,
-- shapes and counts are the composition's; backward adds GELU's
-- recomputation (1 flop per hidden element); the graph keeps less
function TestMLPModule:test_profile_counts_each_child()
  local m = nn.MLP(8, 32)
  local seq = nn.Sequential(m[1], m[2], m[3])
  local r = lunet.profile.count(m, { 2, 5, 8 })
  local r0 = lunet.profile.count(seq, { 2, 5, 8 })
  lu.assertEquals(r.linear_macs, r0.linear_macs)
  lu.assertEquals(r.forward_flops, r0.forward_flops)
  lu.assertEquals(r.backward_flops, r0.backward_flops + 2 * 5 * 32)
  lu.assertTrue(r.activations < r0.activations)
  for i = 2, 4 do
    local a, b = r.rows[i], r0.rows[i]
    lu.assertEquals({ a.name, a.calls, a.input_shape, a.output_shape, a.linear_macs, a.forward_flops },
                    { b.name, b.calls, b.input_shape, b.output_shape, b.linear_macs, b.forward_flops })
  end
  lu.assertEquals(r.rows[4].backward_flops, r0.rows[4].backward_flops)
  lu.assertEquals(r.rows[3].backward_flops, r0.rows[3].backward_flops + 2 * 5 * 32)
  lu.assertEquals(r.rows[1].own.forward_flops, 0)   -- nothing charged to the MLP itself
end
