-- The module and optimiser API a PyTorch user reaches for: buffers,
-- forward hooks with removable handles, ModuleDict, ParameterList,
-- Identity, Softmax, nn.init, attention maps of every variant, parameter
-- groups (and model:param_groups), the schedules, autograd.grad, and
-- checkpoints that keep the random stream.
local lu = require "luaunit"
local lunet = require "lunet"
local nn = lunet.nn
local H = require "helpers"

-- ================================================================ buffers

local Counter = nn.Module:extend("Counter", { "d" })
function Counter:init(o)
  self.lin = nn.Linear(o.d, o.d)
  self:register_buffer("running_mean", lunet.zeros { o.d })
  self:register_buffer("scratch", lunet.zeros { 1 }, { persistent = false })
end
function Counter:forward(x)
  lunet.no_grad(function() self.running_mean:mul_(0.9):add_(x:mean(1) * 0.1) end)
  return self.lin(x)
end

TestNNBuffers = {}

function TestNNBuffers:test_buffers_are_state_not_parameters()
  lunet.manual_seed(1)
  local m = nn.Sequential(Counter(3))
  lu.assertEquals(H.param_names(m), { "0.lin.weight", "0.lin.bias" })
  -- PyTorch's order: a module's own parameters, its buffers, then its children
  lu.assertEquals(nn.Module.keys(m:state_dict()), { "0.running_mean", "0.lin.weight", "0.lin.bias" })
  local names = {}
  for n in m:named_buffers() do names[#names + 1] = n end
  lu.assertEquals(names, { "0.running_mean", "0.scratch" })
  lu.assertEquals(#m:buffers(), 2)
  m(lunet.ones { 2, 3 })
  H.assert_close(m[1].running_mean, { 0.1, 0.1, 0.1 }, 1e-6)
  -- saved and loaded with the parameters
  local m2 = nn.Sequential(Counter(3))
  m2:load_state_dict(m:state_dict())
  H.assert_close(m2[1].running_mean, { 0.1, 0.1, 0.1 }, 1e-6)
  -- assigning a tensor to a buffer's name replaces the buffer
  m[1].running_mean = lunet.full({ 3 }, 5)
  H.assert_close(m:state_dict()["0.running_mean"], { 5, 5, 5 }, 0)
  m[1]:register_buffer("running_mean", nil)
  lu.assertNil(m[1].running_mean)
  H.raises("Counter: buffer 'b' must be a tensor, got number", m[1].register_buffer, m[1], "b", 3)
end

-- register_buffer, register_parameter and add_module refuse a name another
-- kind of attribute holds, as PyTorch's do; assignment replaces it
function TestNNBuffers:test_register_does_not_take_over_another_name()
  local c = Counter(2)
  local lin, keys = c.lin, nn.Module.keys(c:state_dict())
  H.raises("Counter: register_buffer: 'lin' is already a submodule", c.register_buffer, c, "lin", lunet.ones { 1 })
  H.raises("Counter: register_buffer: 'training' is already an attribute", c.register_buffer, c, "training", lunet.ones { 1 })
  H.raises("Counter: register_buffer: 'forward' is already a method of Counter", c.register_buffer, c, "forward", lunet.ones { 1 })
  H.raises("Counter: register_parameter: 'running_mean' is already a buffer",
           c.register_parameter, c, "running_mean", nn.Parameter(lunet.ones { 2 }))
  H.raises("Counter: add_module: 'running_mean' is already a buffer", c.add_module, c, "running_mean", nn.Identity())
  H.raises("Counter: register_buffer: unknown option 'persistant'", c.register_buffer, c, "b", lunet.ones { 1 }, { persistant = false })
  lu.assertTrue(rawequal(c.lin, lin))
  lu.assertEquals(nn.Module.keys(c:state_dict()), keys)
  -- the same kind replaces, and so does assignment
  c:register_buffer("running_mean", lunet.ones { 2 })
  c:add_module("lin", nn.Linear(2, 2))
  c.lin = nil                                                    -- removes the submodule
  lu.assertNil(c.lin)
  c.lin = nn.Parameter(lunet.ones { 2 })
  lu.assertEquals(H.param_names(c), { "lin" })
end

-- ================================================================ hooks

TestNNHooks = {}

function TestNNHooks:test_pre_and_forward_hooks_with_handles()
  lunet.manual_seed(2)
  local lin = nn.Linear(2, 2)
  local x = lunet.randn { 1, 2 }
  local y0 = lin(x)
  local seen = {}
  local h1 = lin:register_forward_pre_hook(function(m, args)
    seen[#seen + 1] = "pre"
    return { args[1] * 2, n = 1 }                        -- replace the input
  end)
  local h2 = lin:register_forward_hook(function(m, args, out)
    seen[#seen + 1] = "post"
    lu.assertTrue(m == lin)
    return out + 1                                       -- replace the output
  end)
  local y = lin(x)
  H.assert_close(y, lin.forward(lin, x * 2) + 1, 1e-6)
  lu.assertEquals(seen, { "pre", "post" })
  h1:remove()
  H.assert_close(lin(x), y0 + 1, 1e-6)
  h2:remove()
  H.assert_close(lin(x), y0, 0)
  h2:remove()                                            -- twice is harmless
  lu.assertEquals(#seen, 3)
  H.raises("Linear: a hook must be a function, got number", lin.register_forward_hook, lin, 3)
end

-- ================================================================ containers and layers

TestNNContainers = {}

function TestNNContainers:test_module_dict()
  local d = nn.ModuleDict { b = nn.Linear(2, 2), a = nn.Linear(2, 3) }
  lu.assertEquals(d:keys(), { "a", "b" })
  lu.assertEquals(#d, 2)
  lu.assertTrue(d:contains("a"))
  lu.assertEquals(d.a.out_features, 3)
  d.c = nn.Identity()
  lu.assertEquals(d:keys(), { "a", "b", "c" })
  lu.assertEquals(H.param_names(d), { "a.weight", "a.bias", "b.weight", "b.bias" })
  local n = 0
  for name, m in d:items() do n = n + 1; lu.assertTrue(d[name] == m) end
  lu.assertEquals(n, 3)
  H.raises("ModuleDict: 'x' is number, not a module", nn.ModuleDict, { x = 3 })
  H.raises("ModuleDict: has no forward", d, 1)
end

function TestNNContainers:test_parameter_list()
  local pl = nn.ParameterList { lunet.zeros { 2 }, lunet.ones { 3 } }
  lu.assertEquals(#pl, 2)
  lu.assertTrue(pl[1]:requires_grad())
  lu.assertEquals(pl[2]:shape(), { 3 })
  lu.assertEquals(pl[-1]:shape(), { 3 })
  pl:append(lunet.zeros { 1 })
  lu.assertEquals(H.param_names(pl), { "0", "1", "2" })
  local count = 0
  for _, p in ipairs(pl) do count = count + p:numel() end
  lu.assertEquals(count, 6)
  local holder = nn.Sequential(pl)
  lu.assertEquals(#holder:parameters(), 3)
end

function TestNNContainers:test_identity_and_softmax()
  local x = lunet.randn { 2, 3 }
  lu.assertTrue(nn.Identity()(x) == x)
  H.assert_close(nn.Softmax { dim = 1 }(x), x:softmax(1), 0)
  H.assert_close(nn.Softmax()(x), x:softmax(-1), 0)
  H.assert_close(nn.LogSoftmax(-1)(x), x:log_softmax(-1), 0)
  lu.assertEquals(tostring(nn.Softmax { dim = 2 }), "Softmax(dim=2)")
  H.raises("Softmax: dim must be an integer", nn.Softmax, { dim = 1.5 })
  local g = H.leaf(lunet.randn { 2, 3 })
  H.gradcheck(function(g) return nn.Softmax(1)(g) end, { g })
end

-- ================================================================ nn.init

TestNNInit = {}

function TestNNInit:setUp() lunet.manual_seed(3) end

local function stats(t)
  local v = H.flat(t)
  local s, ss, hi = 0, 0, 0
  for _, x in ipairs(v) do s = s + x; ss = ss + x * x; hi = math.max(hi, math.abs(x)) end
  local mean = s / #v
  return mean, math.sqrt(ss / #v - mean * mean), hi
end

function TestNNInit:test_bounds_and_spreads_follow_pytorch()
  local init = nn.init
  local w = lunet.empty { 300, 200 }
  -- xavier_uniform_: U(-b, b), b = gain * sqrt(6 / (fan_in + fan_out))
  local b = math.sqrt(6 / 500)
  local _, sd, hi = stats(init.xavier_uniform_(w))
  lu.assertTrue(hi <= b and hi > 0.99 * b)
  lu.assertAlmostEquals(sd, b / math.sqrt(3), 0.02 * b)
  _, sd = stats(init.xavier_normal_(w, 2))
  lu.assertAlmostEquals(sd, 2 * math.sqrt(2 / 500), 0.01)
  -- kaiming_uniform_ (PyTorch's default a=0, leaky_relu): b = sqrt(2) * sqrt(3 / fan_in)
  b = math.sqrt(2) * math.sqrt(3 / 200)
  _, sd, hi = stats(init.kaiming_uniform_(w))
  lu.assertTrue(hi <= b and hi > 0.99 * b)
  -- nn.Linear's own init is kaiming_uniform_ with a = sqrt(5): b = 1 / sqrt(fan_in)
  _, _, hi = stats(init.kaiming_uniform_(w, { a = math.sqrt(5) }))
  lu.assertTrue(hi <= 1 / math.sqrt(200) and hi > 0.99 / math.sqrt(200))
  _, sd = stats(init.kaiming_normal_(w, { mode = "fan_out", nonlinearity = "relu" }))
  lu.assertAlmostEquals(sd, math.sqrt(2 / 300), 0.003)
  local mean
  mean, sd = stats(init.normal_(w, 1, 0.5))
  lu.assertAlmostEquals(mean, 1, 0.01)
  lu.assertAlmostEquals(sd, 0.5, 0.01)
  -- trunc_normal_: every value in [a, b]; N(0,1) cut at +-2 has std 0.8796
  mean, sd, hi = stats(init.trunc_normal_(w))
  lu.assertTrue(hi <= 2)
  lu.assertAlmostEquals(sd, 0.8796, 0.01)
  _, _, hi = stats(init.trunc_normal_(w, 0, 0.02, -0.04, 0.04))
  lu.assertTrue(hi <= 0.04)
  H.assert_close(init.zeros_(lunet.ones { 2 }), { 0, 0 }, 0)
  H.assert_close(init.ones_(lunet.zeros { 2 }), { 1, 1 }, 0)
  H.assert_close(init.constant_(lunet.zeros { 2 }, 3), { 3, 3 }, 0)
  lu.assertAlmostEquals(init.calculate_gain("tanh"), 5 / 3, 1e-12)
  lu.assertEquals({ init.fans(lunet.zeros { 4, 3, 5 }) }, { 15, 20 })
end

function TestNNInit:test_parameters_and_errors()
  local lin = nn.Linear(4, 3)
  nn.init.xavier_uniform_(lin.weight)                    -- a parameter: written under no_grad
  nn.init.zeros_(lin.bias)
  H.assert_close(lin.bias, { 0, 0, 0 }, 0)
  lu.assertTrue(lin.weight:requires_grad())
  H.raises("init.fans: fan in and fan out need at least 2 dims", nn.init.xavier_uniform_, lunet.zeros { 3 })
  H.raises("init.kaiming_uniform_: mode must be 'fan_in' or 'fan_out'", nn.init.kaiming_uniform_,
           lunet.zeros { 2, 2 }, { mode = "in" })
  H.raises("init.normal_: initialises float32 tensors, got int64", nn.init.normal_,
           lunet.zeros({ 2 }, { dtype = "int64" }))
end

-- ================================================================ attention maps

TestNNAttentionMaps = {}

function TestNNAttentionMaps:setUp() lunet.manual_seed(4) end

local VARIANTS = {
  mha = function() return nn.MHA { hidden_size = 16, num_heads = 4 } end,
  mqa = function() return nn.MQA { hidden_size = 16, num_heads = 4 } end,
  gqa = function() return nn.GQA { hidden_size = 16, num_heads = 4, group_size = 2 } end,
  mla = function()
    return nn.MLA { hidden_size = 16, down_dim = 8, up_dim = 8, num_heads = 4, rope_head_dim = 4 }
  end,
  gated = function() return nn.GatedAttention { d_model = 16, num_heads = 4, latent_rank = 2 } end,
}

-- the weights through a forward hook, as a user probing a model would
local function weights_of(m, x, mask, opts)
  m:eval()
  m.output_attentions = true
  local got
  local h = m:register_forward_hook(function(mod) got = mod.attention_weights end)
  local out = m(x, mask, opts)
  h:remove()
  return got, out
end

function TestNNAttentionMaps:test_every_variant_gives_its_weights()
  local B, S = 2, 5
  local x = lunet.randn { B, S, 16 }
  local mask = lunet.ones { B, S }
  mask[{ 2, 5 }] = 0
  for name, make in pairs(VARIANTS) do
    local m = make()
    lu.assertFalse(m.output_attentions, name)
    local w = weights_of(m, x, mask, { causal = true })
    lu.assertEquals(w:shape(), { B, 4, S, S }, name)
    lu.assertFalse(w:requires_grad(), name)
    for b = 1, B do
      for h = 1, 4 do
        for i = 1, S do
          local row = w[b][h][i]:totable()
          local sum = 0
          for j = 1, S do
            sum = sum + row[j]
            if j > i then lu.assertEquals(row[j], 0, name .. ": causal") end
          end
          lu.assertAlmostEquals(sum, 1, 1e-5, name .. ": a row sums to 1")
          if b == 2 and name ~= "gated" then lu.assertEquals(row[5], 0, name .. ": masked key") end
        end
      end
    end
  end
end

-- MHA, MQA, GQA: out_projection(merge(weights @ v)) is the module's output
function TestNNAttentionMaps:test_weights_reproduce_the_output()
  local heads = require "lunet.nn.heads"
  local x = lunet.randn { 2, 4, 16 }
  for _, name in ipairs { "mha", "mqa", "gqa" } do
    local m = VARIANTS[name]()
    local w, out = weights_of(m, x, nil, { causal = true })
    local v = heads.split(m.value(x), m.kv_heads)
    v = v:unsqueeze(3):expand { 2, m.kv_heads, 4 // m.kv_heads, 4, 4 }:reshape { 2, 4, 4, 4 }
    local again = m.out_projection(heads.merge(w:matmul(v)))
    H.assert_close(again, out, 1e-5, name)
  end
  -- MLA: its values come from the latent
  local m = VARIANTS.mla()
  local w, out = weights_of(m, x)
  local v = heads.split(m.up_proj_v(m.down_proj_kv(x)), 4)
  H.assert_close(m.fc(heads.merge(w:matmul(v))), out, 1e-5, "mla")
  -- decoding with a cache keeps them too ({B,H,1,T} per step)
  local c = m:new_cache()
  lunet.no_grad(function() m(x:narrow(2, 1, 3), nil, { causal = true, cache = c }) end)
  local w1 = weights_of(m, x:narrow(2, 4, 1), nil, { causal = true, cache = c })
  lu.assertEquals(w1:shape(), { 2, 4, 1, 4 })
end

-- ================================================================ parameter groups

TestNNParamGroups = {}

function TestNNParamGroups:setUp() lunet.manual_seed(5) end

function TestNNParamGroups:test_no_decay_for_norms_and_biases_in_one_line()
  local model = nn.TransformerLM { vocab_size = 8, d_model = 16, n_layer = 1, num_heads = 2, max_len = 8 }
  local groups = model:param_groups { weight_decay = 0.1 }
  lu.assertEquals(#groups, 2)
  lu.assertEquals(groups[1].weight_decay, 0.1)
  lu.assertEquals(groups[2].weight_decay, 0)
  for _, p in ipairs(groups[1].params) do lu.assertTrue(p:dim() >= 2) end
  for _, p in ipairs(groups[2].params) do lu.assertEquals(p:dim(), 1) end
  lu.assertEquals(#groups[1].params + #groups[2].params, #model:parameters())
  local opt = lunet.optim.AdamW(groups, { lr = 1e-2 })
  lu.assertEquals(#opt.param_groups, 2)
  lu.assertEquals(opt.param_groups[2].lr, 1e-2)               -- the optimiser's options fill in
  -- a step decays the weights of group 1 only: with zero gradients AdamW
  -- moves nothing but the decay (p <- p * (1 - lr * wd))
  for _, p in ipairs(model:parameters()) do p.grad = lunet.zeros_like(p) end
  local w, b = groups[1].params[1], groups[2].params[1]
  local w0, b0 = w:clone(), b:clone()
  opt:step()
  H.assert_close(w, w0 * (1 - 1e-2 * 0.1), 1e-6)
  H.assert_close(b, b0, 0)
end

function TestNNParamGroups:test_groups_in_the_optimiser()
  local a, b = H.leaf(lunet.ones { 2 }), H.leaf(lunet.ones { 3 })
  local opt = lunet.optim.SGD({ { params = { a }, lr = 0.5 }, { params = { b } } }, { lr = 0.1, momentum = 0.9 })
  lu.assertEquals(opt.param_groups[1].lr, 0.5)
  lu.assertEquals(opt.param_groups[2].lr, 0.1)
  lu.assertEquals(opt.param_groups[2].momentum, 0.9)
  a.grad, b.grad = lunet.ones { 2 }, lunet.ones { 3 }
  opt:step()
  H.assert_close(a, { 0.5, 0.5 }, 1e-7)
  H.assert_close(b, { 0.9, 0.9, 0.9 }, 1e-7)
  opt.lr = 0.01                                                -- a schedule sets every group
  lu.assertEquals({ opt.param_groups[1].lr, opt.param_groups[2].lr }, { 0.01, 0.01 })
  lu.assertEquals(opt.lr, 0.01)
  opt.param_groups[2].lr = 0.2                                 -- one group, by hand
  lu.assertEquals(opt.param_groups[2].lr, 0.2)
  -- state_dict / load_state_dict keep the groups
  local sd = opt:state_dict()
  lu.assertEquals(sd.param_groups[1].params, { 1 })
  lu.assertEquals(sd.param_groups[2].params, { 2 })
  local opt2 = lunet.optim.SGD({ { params = { a } }, { params = { b } } }, { lr = 1 })
  opt2:load_state_dict(sd)
  lu.assertEquals(opt2.param_groups[2].lr, 0.2)
  lu.assertEquals(opt2.param_groups[1].momentum, 0.9)
  H.raises("SGD: load_state_dict: param_groups must be a list of 2 groups", opt2.load_state_dict, opt2,
           { param_groups = { sd.param_groups[1] }, state = {} })
  H.raises("SGD: a parameter appears in param groups 1 and 2", lunet.optim.SGD,
           { { params = { a } }, { params = { a, b } } })
  H.raises("SGD: param group 1: unknown option 'lrr'", lunet.optim.SGD, { { params = { a }, lrr = 1 } })
  H.raises("SGD: param group 2: lr must be a number >= 0", lunet.optim.SGD,
           { { params = { a } }, { params = { b }, lr = -1 } })
end

-- ================================================================ autograd.grad

TestAutogradGrad = {}

function TestAutogradGrad:test_gradients_without_touching_grad()
  lunet.manual_seed(6)
  local x, w = H.leaf(lunet.randn { 3 }), H.leaf(lunet.randn { 3 })
  local h = x * w
  local y = h:exp():sum()
  local g = lunet.autograd.grad(y, { x, h, w }, { retain_graph = true })
  H.assert_close(g[1], w * (x * w):exp(), 1e-6)
  H.assert_close(g[2], (x * w):exp(), 1e-6)                   -- an intermediate tensor too
  H.assert_close(g[3], x * (x * w):exp(), 1e-6)
  lu.assertNil(x.grad)
  lu.assertNil(w.grad)
  -- the graph was kept: an ordinary backward still works, and agrees
  y:backward()
  H.assert_close(x.grad, g[1], 1e-6)
  -- several outputs with their gradients, and an unused input
  local a = x * 2
  local gs = lunet.autograd.grad({ a, x:sum() }, { x }, { grad_outputs = { lunet.ones { 3 } * 3, lunet.tensor(1) } })
  H.assert_close(gs[1], { 7, 7, 7 }, 1e-6)
  local u = H.leaf(lunet.ones { 1 })
  H.raises("autograd.grad: inputs[2] was not used", lunet.autograd.grad, (x * 2):sum(), { x, u })
  lu.assertNil(lunet.autograd.grad((x * 2):sum(), { x, u }, { allow_unused = true })[2])
  H.raises("autograd.grad: unknown option 'retain'", lunet.autograd.grad, y, { x }, { retain = true })
end

-- ================================================================ checkpoints keep the random stream

TestCheckpointRng = {}

function TestCheckpointRng:test_resumed_dropout_continues_the_same_stream()
  os.execute("mkdir -p tmp")
  local path = "tmp/rng_ckpt.safetensors"
  local function setup(seed)
    lunet.manual_seed(seed)
    local model = nn.TransformerLM { vocab_size = 8, d_model = 16, n_layer = 1, num_heads = 2, max_len = 8,
                                     dropout = 0.3 }
    local opt = lunet.optim.AdamW(model:param_groups { weight_decay = 0.1 }, { lr = 1e-2 })
    return model, opt
  end
  local task = lunet.data.copy { vocab_size = 8, seq_len = 8, batch_size = 4, seed = 3 }
  local function step(model, opt)
    local x, y, mask = task:batch()
    local loss = lunet.cross_entropy(model(x), y, { ignore_index = 0 })
    opt:zero_grad(); loss:backward(); opt:step()
    return loss:item()
  end
  local model, opt = setup(1)
  for _ = 1, 3 do step(model, opt) end
  lunet.save_checkpoint(path, { model = model, optimizer = opt, step = 3, data = task })
  local first = {}
  for i = 1, 3 do first[i] = step(model, opt) end
  local model2, opt2 = setup(2)
  lunet.rand { 5 }                                          -- the stream moves on before the load
  lunet.load_checkpoint(path, { model = model2, optimizer = opt2, data = task })
  lu.assertEquals(#opt2.param_groups, 2)
  for i = 1, 3 do lu.assertEquals(step(model2, opt2), first[i], "step " .. i) end
  local _, meta = lunet.load(path)
  lu.assertEquals(meta["optim.group_sizes"] ~= nil, true)
  lu.assertEquals(meta["optim.g2.weight_decay"], "0")
  os.remove(path)
end
