-- lunet.nn: the module system (construction, registration, traversal,
-- state dicts, modes, printing, checkpoints), each layer against a plain
-- computation and gradchecked, RotaryEmbedding against the seed's formula
-- written out in Lua, and the composed TransformerBlock/TransformerLM.
local lu = require "luaunit"
local lunet = require "lunet"
local nn = lunet.nn
local H = require "helpers"

-- a two-level toy model: own parameter, then children in order
local Toy = nn.Module:extend("Toy", { "d", d = 3 })
function Toy:init(o)
  self.proj = nn.Linear(o.d, 2)
  self.scale = nn.Parameter(lunet.ones { 2 })
  self.inner = nn.Sequential(nn.Linear(2, 2, false), nn.ReLU())
  self.d = o.d
end
function Toy:forward(x) return self.inner(self.proj(x)) * self.scale end

-- ================================================================ module system

TestNNModule = {}

function TestNNModule:setUp() lunet.manual_seed(11) end

function TestNNModule:test_construction_forms()
  for _, m in ipairs {
    nn.Linear(4, 3), nn.Linear { 4, 3 }, nn.Linear { in_features = 4, out_features = 3 },
    nn.Linear { 4, out_features = 3, bias = true },
  } do
    lu.assertEquals(m.in_features, 4)
    lu.assertEquals(m.out_features, 3)
    lu.assertEquals(m.weight:shape(), { 3, 4 })
    lu.assertEquals(m.bias:shape(), { 3 })
  end
  lu.assertNil(nn.Linear(4, 3, false).bias)
  lu.assertNil(nn.Linear { 4, 3, bias = false }.bias)
  lu.assertEquals(nn.Dropout().p, 0.5)
  lu.assertEquals(nn.LayerNorm(8).eps, 1e-5)
end

function TestNNModule:test_construction_errors()
  H.raises("Linear: missing option 'out_features'", function() return nn.Linear(4) end)
  H.raises("Linear: unknown option 'bais'", function() return nn.Linear { 4, 3, bais = false } end)
  H.raises("Linear: 4 positional options given, at most 3", function() return nn.Linear(4, 3, true, 1) end)
  H.raises("Linear: option 'in_features' given both by position and by name",
           function() return nn.Linear { 4, 3, in_features = 5 } end)
  H.raises("Linear: in_features must be a positive integer, got 0", function() return nn.Linear(0, 3) end)
  H.raises("Linear: out_features must be a positive integer, got 2.5", function() return nn.Linear(2, 2.5) end)
  H.raises("Dropout: p must be a number in [0, 1), got 1.5", function() return nn.Dropout(1.5) end)
  H.raises("GELU: approximate must be 'none' or 'tanh', got erf", function() return nn.GELU('erf') end)
end

function TestNNModule:test_registration_order_and_dotted_names()
  local m = Toy()
  -- PyTorch's order: own parameters first, then each child's, in registration order
  lu.assertEquals(H.param_names(m), { "scale", "proj.weight", "proj.bias", "inner.0.weight" })
  lu.assertEquals(#m:parameters(), 4)
  lu.assertTrue(rawequal(m:parameters()[2], m.proj.weight))
  local mha = nn.MHA(8, 2)
  lu.assertEquals(H.param_names(mha), {
    "query.weight", "query.bias", "key.weight", "key.bias", "value.weight", "value.bias",
    "out_projection.weight", "out_projection.bias",
  })
end

function TestNNModule:test_modules_and_children()
  local m = Toy()
  local mods = {}
  for name, mod in m:named_modules() do mods[#mods + 1] = name .. ":" .. mod:class_name() end
  lu.assertEquals(mods, { ":Toy", "proj:Linear", "inner:Sequential", "inner.0:Linear", "inner.1:ReLU" })
  lu.assertEquals(#m:modules(), 5)
  local kids = {}
  for name, mod in m:named_children() do kids[#kids + 1] = name .. ":" .. mod:class_name() end
  lu.assertEquals(kids, { "proj:Linear", "inner:Sequential" })
  lu.assertTrue(rawequal(m:children()[2], m.inner))
  -- apply visits children before their parent
  local seen = {}
  m:apply(function(mod) seen[#seen + 1] = mod:class_name() end)
  lu.assertEquals(seen, { "Linear", "Linear", "ReLU", "Sequential", "Toy" })
end

function TestNNModule:test_reassignment_and_removal()
  local m = Toy()
  m.proj = nn.Linear(3, 2, false)          -- replacing keeps the slot
  lu.assertEquals(H.param_names(m), { "scale", "proj.weight", "inner.0.weight" })
  m.scale = nil
  lu.assertEquals(H.param_names(m), { "proj.weight", "inner.0.weight" })
  m.proj = nil
  lu.assertNil(m.proj)
  lu.assertEquals(H.param_names(m), { "inner.0.weight" })
  -- a plain tensor (not requiring grad) is an attribute, not a parameter
  m.cache = lunet.zeros { 2 }
  lu.assertEquals(H.param_names(m), { "inner.0.weight" })
  lu.assertNotNil(m.cache)
  -- a frozen leaf may replace a parameter; a non-leaf may not
  local lin = nn.Linear(2, 2)
  lin.bias = lunet.zeros { 2 }
  lu.assertEquals(H.param_names(lin), { "weight", "bias" })
  lu.assertEquals(select(2, lin:num_parameters()), 4)
  H.raises("Linear: cannot assign a non-leaf tensor to parameter 'weight'",
           function() lin.weight = lin.weight * 2 end)
  H.raises("Toy: cannot assign a number to submodule 'inner'", function() m.inner = 3 end)
  H.raises("Toy: cannot assign a tensor to submodule 'inner' (a module, or nil to remove it)",
           function() m.inner = lunet.ones { 2 } end)
  H.raises("parameter name must be a non-empty string without '.', got a.b",
           function() m:register_parameter("a.b", nn.Parameter(lunet.ones { 1 })) end)
  H.raises("submodule 'x' must be a module, got table", function() m:add_module("x", {}) end)
end

function TestNNModule:test_shared_parameters_counted_once()
  local a = nn.Linear(3, 3)
  local m = nn.Sequential(a, a)
  lu.assertEquals(#m:parameters(), 2)
  lu.assertEquals(m:num_parameters(), 12)
  local sd = m:state_dict()
  lu.assertEquals(nn.Module.keys(sd), { "0.weight", "0.bias", "1.weight", "1.bias" })
end

function TestNNModule:test_state_dict_round_trip()
  local a, b = Toy(), Toy()
  local sd = a:state_dict()
  lu.assertEquals(#nn.Module.keys(sd), 4)
  local names = {}
  for name in pairs(sd) do names[#names + 1] = name end   -- pairs walks registration order
  lu.assertEquals(names, nn.Module.keys(sd))
  for k in next, sd do lu.assertEquals(type(k), "string") end   -- a plain name -> tensor map
  lu.assertTrue(rawequal(sd["proj.weight"], a.proj.weight))    -- the tensors themselves
  lu.assertNotEquals(b.proj.weight:totable(), a.proj.weight:totable())
  local missing, unexpected = b:load_state_dict(sd)
  lu.assertEquals(missing, {})
  lu.assertEquals(unexpected, {})
  for name, t in pairs(sd) do
    H.assert_close(b:state_dict()[name], t, 0)
  end
  lu.assertFalse(rawequal(b.proj.weight, a.proj.weight))      -- copied, not shared
  lu.assertTrue(b.proj.weight:requires_grad())
  local x = lunet.randn { 2, 3 }
  H.assert_close(b(x), a(x), 0)
end

function TestNNModule:test_load_state_dict_strict_lists_every_problem()
  local m = Toy()
  local before = m.proj.weight:totable()
  local sd = {
    ["proj.weight"] = lunet.zeros { 3, 2 },          -- wrong shape
    ["proj.bias"] = lunet.zeros { 2 },
    ["inner.0.weight"] = lunet.zeros { 2, 2 },
    ["extra.a"] = lunet.zeros { 1 }, ["extra.b"] = lunet.zeros { 1 },
  }
  local ok, err = pcall(m.load_state_dict, m, sd)
  lu.assertFalse(ok)
  lu.assertStrContains(err, "Toy: load_state_dict: 1 missing key (scale); " ..
    "2 unexpected keys (extra.a, extra.b); 1 shape mismatch (proj.weight: checkpoint {3,2}, model {2,3})")
  lu.assertEquals(m.proj.weight:totable(), before)              -- nothing copied
  -- non-strict: missing and unexpected keys are returned, shapes still checked
  sd["proj.weight"] = lunet.ones { 2, 3 }
  local missing, unexpected = m:load_state_dict(sd, { strict = false })
  lu.assertEquals(missing, { "scale" })
  lu.assertEquals(unexpected, { "extra.a", "extra.b" })
  H.assert_close(m.proj.weight, lunet.ones { 2, 3 }, 0)
  H.raises("not a tensor but a string", function() m:load_state_dict({ scale = "x" }, { strict = false }) end)
end

function TestNNModule:test_train_eval_propagates_to_dropout()
  local m = nn.Sequential(nn.Linear(4, 4), nn.Sequential(nn.Dropout(0.5)))
  local drop = m[2][1]
  lu.assertTrue(drop.training)
  local x = lunet.ones { 8, 4 }
  lu.assertIs(m:eval(), m)
  for _, mod in ipairs(m:modules()) do lu.assertFalse(mod.training) end
  H.assert_close(drop(x), x, 0)
  m:train()
  lu.assertTrue(drop.training)
  local y, zeros = drop(x), 0
  for i = 1, 8 do for j = 1, 4 do
    local v = y:get { i, j }
    if v == 0 then zeros = zeros + 1 else lu.assertAlmostEquals(v, 2, 1e-6) end
  end end
  lu.assertTrue(zeros > 0 and zeros < 32)
  m:train(false)
  lu.assertFalse(drop.training)
end

function TestNNModule:test_zero_grad_and_num_parameters()
  local m = Toy()
  m(lunet.randn { 2, 3 }):sum():backward()
  lu.assertNotNil(m.proj.weight.grad)
  m:zero_grad()
  for _, p in ipairs(m:parameters()) do lu.assertNil(p.grad) end
  lu.assertEquals({ m:num_parameters() }, { 14, 14 })
  m.proj.bias:requires_grad(false)
  lu.assertEquals({ m:num_parameters() }, { 14, 12 })
end

function TestNNModule:test_tostring_tree()
  lu.assertEquals(tostring(nn.Linear(4, 3)), "Linear(in_features=4, out_features=3, bias=true)")
  lu.assertEquals(tostring(Toy()), table.concat({
    "Toy(",
    "  (proj): Linear(in_features=3, out_features=2, bias=true)",
    "  (inner): Sequential(",
    "    (0): Linear(in_features=2, out_features=2, bias=false)",
    "    (1): ReLU()",
    "  )",
    ")" }, "\n"))
  lu.assertEquals(tostring(nn.MHA(256, 8)), table.concat({
    "MultiHeadAttention(",
    "  (query): Linear(in_features=256, out_features=256, bias=true)",
    "  (key): Linear(in_features=256, out_features=256, bias=true)",
    "  (value): Linear(in_features=256, out_features=256, bias=true)",
    "  (dropout): Dropout(p=0)",
    "  (out_projection): Linear(in_features=256, out_features=256, bias=true)",
    ")" }, "\n"))
  lu.assertEquals(tostring(nn.LayerNorm(8)), "LayerNorm(8, eps=1e-05, elementwise_affine=true)")
  lu.assertEquals(tostring(nn.Embedding(10, 4)), "Embedding(10, 4)")
  lu.assertEquals(tostring(nn.Dropout(0.1)), "Dropout(p=0.1)")
  lu.assertEquals(tostring(nn.GELU('tanh')), "GELU(approximate='tanh')")
  lu.assertEquals(tostring(nn.RotaryEmbedding(8)),
                  "RotaryEmbedding(dim=8, base=10000, max_len=512, interleaved=true, seed_layout=true)")
end

function TestNNModule:test_save_and_load_checkpoint()
  os.execute("mkdir -p tmp")
  local path = "tmp/nn_toy.safetensors"
  local a, b = Toy(), Toy()
  lu.assertIs(a:save(path), a)
  local tensors = lunet.load(path)
  lu.assertEquals(tensors["inner.0.weight"]:shape(), { 2, 2 })
  b:load(path)
  local x = lunet.randn { 4, 3 }
  H.assert_close(b(x), a(x), 0)
  H.raises("missing key", function() nn.Linear(3, 2):load(path) end)
  os.remove(path)
end

function TestNNModule:test_user_subclass_without_spec()
  local Pair = nn.Module:extend("Pair")
  function Pair:init(a, b)
    self.a = nn.Linear(a, b)
    self.b = nn.Linear(b, a)
  end
  function Pair:forward(x) return self.b(self.a(x)) end
  local p = Pair(3, 5)
  lu.assertEquals(p(lunet.randn { 2, 3 }):shape(), { 2, 3 })
  lu.assertEquals(H.param_names(p), { "a.weight", "a.bias", "b.weight", "b.bias" })
  H.raises("Empty: forward is not implemented", function() nn.Module:extend("Empty")()() end)
end

-- ================================================================ layers

TestNNLayers = {}

function TestNNLayers:setUp() lunet.manual_seed(5) end

function TestNNLayers:test_linear_values_init_and_grad()
  local m = nn.Linear(5, 3)
  local bound = 1 / math.sqrt(5)
  for _, p in ipairs(m:parameters()) do
    lu.assertTrue(p.is_leaf and p:requires_grad())
    local t = p:totable()
    for _, row in ipairs(type(t[1]) == "table" and t or { t }) do
      for _, v in ipairs(row) do lu.assertTrue(math.abs(v) <= bound) end
    end
  end
  local x = lunet.randn { 2, 4, 5 }
  local y = m(x)
  lu.assertEquals(y:shape(), { 2, 4, 3 })
  for b = 1, 2 do for s = 1, 4 do for o = 1, 3 do
    local acc = m.bias:get { o }
    for i = 1, 5 do acc = acc + x:get { b, s, i } * m.weight:get { o, i } end
    lu.assertAlmostEquals(y:get { b, s, o }, acc, 1e-5)
  end end end
  local xl = H.leaf(lunet.randn { 3, 5 })
  H.gradcheck(function(x) return m(x) end, { xl, m.weight, m.bias })
  local nb = nn.Linear(5, 2, false)
  H.assert_close(nb(xl), xl:matmul(nb.weight:t()), 1e-5)
end

function TestNNLayers:test_embedding()
  local m = nn.Embedding(6, 3)
  local ids = lunet.tensor { { 1, 6 }, { 3, 3 } }
  local y = m(ids)
  lu.assertEquals(y:shape(), { 2, 2, 3 })
  for i = 1, 2 do for j = 1, 2 do for d = 1, 3 do
    lu.assertEquals(y:get { i, j, d }, m.weight:get { ids:get { i, j }, d })
  end end end
  H.gradcheck(function() return m(ids) end, { m.weight })
end

function TestNNLayers:test_layer_norm()
  local m = nn.LayerNorm(6)
  H.assert_close(m.weight, lunet.ones { 6 }, 0)
  H.assert_close(m.bias, lunet.zeros { 6 }, 0)
  lunet.no_grad(function()
    m.weight:copy_(lunet.randn { 6 })
    m.bias:copy_(lunet.randn { 6 })
  end)
  local x = H.leaf(lunet.randn { 4, 6 } * 3 + 1)
  H.assert_close(m(x), H.plain_norm(x, m.weight, m.bias, 1e-5), 1e-4)
  H.gradcheck(function(x) return m(x) end, { x, m.weight, m.bias })
  local plain = nn.LayerNorm { 6, elementwise_affine = false }
  lu.assertEquals(#plain:parameters(), 0)
  H.assert_close(plain(x), H.plain_norm(x, nil, nil, 1e-5), 1e-4)
end

function TestNNLayers:test_rms_norm()
  local m = nn.RMSNorm { 6, eps = 1e-5 }
  lunet.no_grad(function() m.weight:copy_(lunet.randn { 6 }) end)
  local x = H.leaf(lunet.randn { 4, 6 })
  H.assert_close(m(x), H.plain_norm(x, m.weight, nil, 1e-5, true), 1e-4)
  H.gradcheck(function(x) return m(x) end, { x, m.weight })
  lu.assertEquals(nn.RMSNorm(4).eps, 1e-6)
end

function TestNNLayers:test_dropout()
  local m = nn.Dropout(0.25)
  local x = H.leaf(lunet.ones { 200 })
  local y, kept = m(x), 0
  for i = 1, 200 do
    local v = y:get { i }
    if v ~= 0 then kept = kept + 1; lu.assertAlmostEquals(v, 1 / 0.75, 1e-6) end
  end
  lu.assertTrue(kept > 120 and kept < 185, "kept " .. kept)
  m:eval()
  H.assert_close(m(x), x, 0)
  H.gradcheck(function(x) return m(x) end, { H.leaf(lunet.randn { 5 }) })
  -- training: reseeding before each call keeps the same keep-mask, so
  -- finite differences see the function the gradient belongs to
  m:train()
  H.gradcheck(function(x) lunet.manual_seed(4); return m(x) end, { H.leaf(lunet.randn { 12 }) })
  lu.assertEquals(nn.Dropout(0):train()(x):totable(), x:totable())
end

function TestNNLayers:test_activations()
  -- values at least 0.2 away from ReLU's kink, so finite differences see one side
  local r = lunet.randn { 3, 4 }
  local x = H.leaf(r + (r:gt(0) * 2 - 1) * 0.2)
  local cases = {
    { nn.ReLU(), function(v) return math.max(v, 0) end },
    { nn.SiLU(), function(v) return v / (1 + math.exp(-v)) end },
    { nn.GELU('tanh'), function(v)
        return 0.5 * v * (1 + math.tanh(math.sqrt(2 / math.pi) * (v + 0.044715 * v ^ 3))) end },
  }
  for _, c in ipairs(cases) do
    local m, f = c[1], c[2]
    local y = m(x)
    for i = 1, 3 do for j = 1, 4 do
      lu.assertAlmostEquals(y:get { i, j }, f(x:get { i, j }), 1e-5)
    end end
    H.gradcheck(function(x) return m(x) end, { x })
  end
  H.assert_close(nn.GELU()(x), x:gelu(), 0)
  H.gradcheck(function(x) return nn.GELU()(x) end, { x })
end

function TestNNLayers:test_sequential_and_module_list()
  local a, b = nn.Linear(3, 4), nn.Linear(4, 2)
  local seq = nn.Sequential(a, nn.GELU(), b)
  lu.assertEquals(#seq, 3)
  lu.assertTrue(rawequal(seq[1], a) and rawequal(seq[-1], b))
  local x = H.leaf(lunet.randn { 2, 3 })
  H.assert_close(seq(x), b(a(x):gelu()), 0)
  H.gradcheck(function(x) return seq(x) end, { x, a.weight, b.bias })
  local list = nn.ModuleList { nn.Linear(2, 2), nn.Linear(2, 2) }
  list:append(nn.ReLU())
  lu.assertEquals(#list, 3)
  local kinds = {}
  for i, m in ipairs(list) do kinds[i] = m:class_name() end
  lu.assertEquals(kinds, { "Linear", "Linear", "ReLU" })
  list[4] = nn.SiLU()
  list[1] = nn.Linear(2, 2, false)
  lu.assertEquals(H.param_names(list), { "0.weight", "1.weight", "1.bias" })
  lu.assertEquals(#list, 4)
  H.raises("ModuleList: can only assign a module to positions 1 .. 5", function() list[7] = nn.ReLU() end)
  H.raises("ModuleList: has no forward", function() list(x) end)
end

-- ================================================================ RotaryEmbedding

-- seed 002's RotaryEmbedding written out: the table it calls cos holds
-- sin(angle) and the one it calls sin holds cos(angle), each angle
-- repeated for the pair (2i, 2i+1); out = x*cos + rot(x)*sin with
-- rot(x)[2i] = -x[2i+1], rot(x)[2i+1] = x[2i].  standard: the real cos/sin.
-- half: the GPT-NeoX arrangement (angle i at i and i + dim/2, rot = cat(-hi, lo)).
-- H.f32 rounds each step to float32, following the seed's float32 arithmetic.
local function direct_rope(x, opts)
  opts = opts or {}
  local shape = x:shape()
  local D, S = shape[#shape], shape[#shape - 1]
  local rows = x:numel() // (S * D)
  local flat = x:reshape { rows, S, D }
  local base, offset, half = opts.base or 10000, opts.offset or 0, D // 2
  local out = {}
  for r = 1, rows do
    out[r] = {}
    for s = 1, S do
      local pos, row = s - 1 + offset, {}
      local xs = {}
      for j = 1, D do xs[j] = flat:get { r, s, j } end
      for i = 0, half - 1 do
        local theta = H.f32(1 / H.f32(base ^ H.f32(H.f32(2 * i) / D)))
        local a = H.f32(pos * theta)
        local c, sn = math.cos(a), math.sin(a)
        if not opts.standard then c, sn = sn, c end
        if opts.half then
          local lo, hi = xs[i + 1], xs[i + 1 + half]
          row[i + 1] = lo * c - hi * sn
          row[i + 1 + half] = hi * c + lo * sn
        else
          local e, o = xs[2 * i + 1], xs[2 * i + 2]
          row[2 * i + 1] = e * c - o * sn
          row[2 * i + 2] = o * c + e * sn
        end
      end
      out[r][s] = row
    end
  end
  return lunet.tensor(out):view(shape)
end

TestNNRotary = {}

function TestNNRotary:setUp() lunet.manual_seed(3) end

function TestNNRotary:test_seed_layout_matches_seed_formula()
  local rope = nn.RotaryEmbedding(8)
  local x = lunet.randn { 2, 3, 5, 8 }        -- {B, H, S, head_dim}
  H.assert_close(rope(x), direct_rope(x), 1e-5)
  -- the seed's quirk: at position 0 its "rotation" gives rot(x), not x
  local y = rope(x):select(3, 1)
  lu.assertAlmostEquals(y:get { 1, 1, 1 }, -x:get { 1, 1, 1, 2 }, 1e-6)
  lu.assertAlmostEquals(y:get { 1, 1, 2 }, x:get { 1, 1, 1, 1 }, 1e-6)
  -- the seed's MLA sizes: rope_head_dim 26, a {B,1,S,26} shared key head
  local k = lunet.randn { 2, 1, 10, 26 }
  H.assert_close(nn.RotaryEmbedding(26)(k), direct_rope(k), 1e-5)
end

function TestNNRotary:test_grows_past_max_len_and_offsets()
  local rope = nn.RotaryEmbedding { 6, max_len = 4 }
  local x = lunet.randn { 1, 9, 6 }
  H.assert_close(rope(x), direct_rope(x), 1e-5)
  lu.assertTrue(rope.table_len >= 9)
  local tail = x:narrow(2, 6, 4)
  H.assert_close(rope(tail, 5), direct_rope(tail, { offset = 5 }), 1e-5)
  H.assert_close(rope(tail, 5), rope(x):narrow(2, 6, 4), 1e-6)
  -- far beyond the seed's 512 positions
  local long = nn.RotaryEmbedding(4)
  local z = lunet.randn { 1, 2, 4 }
  H.assert_close(long(z, 700), direct_rope(z, { offset = 700 }), 1e-5)
end

function TestNNRotary:test_standard_and_half_split_layouts()
  local x = lunet.randn { 2, 4, 8 }
  local std = nn.RotaryEmbedding { 8, seed_layout = false }
  H.assert_close(std(x), direct_rope(x, { standard = true }), 1e-5)
  H.assert_close(std(x):narrow(2, 1, 1), x:narrow(2, 1, 1), 1e-6)     -- position 0: identity
  local neox = nn.RotaryEmbedding { 8, interleaved = false, seed_layout = false, base = 500 }
  H.assert_close(neox(x), direct_rope(x, { standard = true, half = true, base = 500 }), 1e-5)
  local seed_half = nn.RotaryEmbedding { 8, interleaved = false }
  H.assert_close(seed_half(x), direct_rope(x, { half = true }), 1e-5)
  -- a true rotation keeps norms
  H.assert_close(std(x):square():sum(-1), x:square():sum(-1), 1e-5)
  -- the tables are not parameters
  lu.assertEquals(#std:parameters(), 0)
end

function TestNNRotary:test_gradients()
  for _, o in ipairs { { 6 }, { 6, seed_layout = false }, { 6, interleaved = false } } do
    local rope = nn.RotaryEmbedding(o)
    H.gradcheck(function(x) return rope(x, 2) end, { H.leaf(lunet.randn { 2, 3, 6 }) })
  end
end

function TestNNRotary:test_errors()
  H.raises("RotaryEmbedding: dim must be even, got 7", function() return nn.RotaryEmbedding(7) end)
  local rope = nn.RotaryEmbedding(8)
  H.raises("RotaryEmbedding: input {2,3,6} must be {..., seq, 8}", function() rope(lunet.zeros { 2, 3, 6 }) end)
  H.raises("RotaryEmbedding: offset must be a non-negative integer, got -1",
           function() rope(lunet.zeros { 3, 8 }, -1) end)
end

-- ================================================================ composed models

TestNNModels = {}

function TestNNModels:setUp() lunet.manual_seed(9) end

function TestNNModels:test_block_variants_shapes_and_grad()
  local x = lunet.randn { 2, 3, 8 }
  for _, kind in ipairs { "mha", "mqa", "gqa", "mla", "gated" } do
    local extra = kind == "mla" and { down_dim = 4, up_dim = 4, rope_head_dim = 2 } or
                  kind == "gated" and { latent_rank = 3 } or {}
    extra[1], extra[2], extra.attention = 8, 2, kind
    extra.norm = kind == "gqa" and "rmsnorm" or "layernorm"
    local block = nn.TransformerBlock(extra)
    lu.assertEquals(block(x):shape(), { 2, 3, 8 }, kind)
    H.gradcheck(function(x) return block(x, nil, { causal = true }) end,
                { H.leaf(x), block.mlp[1].weight, block.ln_1.weight })
  end
end

function TestNNModels:test_block_option_passthrough()
  local b = nn.TransformerBlock { 16, 4, attention = "gqa", group_size = 4 }
  lu.assertEquals(b.attn:class_name(), "GroupedQueryAttention")
  lu.assertEquals(b.attn.key.out_features, 4)
  local mla = nn.TransformerBlock { 16, 4, attention = "mla", down_dim = 8, up_dim = 8, rope_head_dim = 4,
                                    dropout = 0.1 }
  lu.assertEquals(mla.attn.dropout.p, 0.1)
  lu.assertEquals(mla.mlp[1].out_features, 64)
  H.raises("TransformerBlock: unknown option 'grp'",
           function() return nn.TransformerBlock { 16, 4, attention = "gqa", grp = 2 } end)
  H.raises("TransformerBlock: unknown option 'latent_rank'",   -- the gated module's, not GQA's
           function() return nn.TransformerBlock { 16, 4, attention = "gqa", latent_rank = 2 } end)
  H.raises("TransformerBlock: attention must be 'gated', 'gqa', 'mha', 'mla' or 'mqa', got xyz",
           function() return nn.TransformerBlock { 16, 4, attention = "xyz" } end)
  H.raises("TransformerBlock: attention must be 'gated', 'gqa', 'mha', 'mla' or 'mqa', got mlaa " ..
           "(did you mean 'mla'?)", function() return nn.TransformerBlock { 16, 4, attention = "mlaa" } end)
  H.raises("TransformerBlock: norm must be 'layernorm' or 'rmsnorm', got batchnorm",
           function() return nn.TransformerBlock { 16, 4, norm = "batchnorm" } end)
end

function TestNNModels:test_lm_tied_causal_and_positions()
  local lm = nn.TransformerLM { vocab_size = 11, d_model = 8, n_layer = 2, num_heads = 2, max_len = 6 }
  local ids = lunet.tensor { { 1, 4, 2, 11 }, { 3, 3, 5, 7 } }
  local logits = lm(ids)
  lu.assertEquals(logits:shape(), { 2, 4, 11 })
  lu.assertNil(lm.lm_head)
  lu.assertNotNil(lm.wpe)
  lu.assertEquals(H.param_names(lm)[1], "wte.weight")
  -- tied: logits are ln_f(h) times the token embedding, so wte gets a gradient from both ends
  logits:sum():backward()
  lu.assertNotNil(lm.wte.weight.grad)
  -- causal: changing the last token leaves earlier logits alone
  local ids2 = lunet.tensor { { 1, 4, 2, 5 }, { 3, 3, 5, 7 } }
  local l2 = lm(ids2)
  H.assert_close(l2:narrow(2, 1, 3), logits:narrow(2, 1, 3), 1e-5)
  lu.assertNotEquals(l2:narrow(2, 4, 1):totable(), logits:narrow(2, 4, 1):totable())
  H.raises("TransformerLM: sequence length 7 exceeds max_len 6", function() lm(lunet.ones { 1, 7 }) end)
  H.raises("TransformerLM: ids must be a {batch, seq} tensor of token ids, got {4}",
           function() lm(lunet.ones { 4 }) end)
  -- mla carries RoPE: no learned positions, and any length works
  local mla = nn.TransformerLM { 11, 8, 1, 2, attention = "mla", max_len = 4, down_dim = 4, up_dim = 4,
                                 rope_head_dim = 2, tie_weights = false }
  lu.assertNil(mla.wpe)
  lu.assertNotNil(mla.lm_head)
  lu.assertEquals(mla(lunet.ones { 1, 9 }):shape(), { 1, 9, 11 })
  local learned = nn.TransformerLM { 11, 8, 1, 2, attention = "mla", positions = "learned", down_dim = 4,
                                     up_dim = 4, rope_head_dim = 2 }
  lu.assertNotNil(learned.wpe)
end

function TestNNModels:test_lm_gradcheck_small()
  local lm = nn.TransformerLM { vocab_size = 5, d_model = 4, n_layer = 1, num_heads = 2, max_len = 3,
                                attention = "gqa", group_size = 2 }
  local ids = lunet.tensor { { 1, 5, 2 } }
  -- unit-scale embeddings: at GPT-2's 0.02 a finite-difference step of
  -- 1e-2 would be half an embedding's size
  lunet.no_grad(function() lm.wte.weight:normal_(0, 1) end)
  H.gradcheck(function() return lm(ids) end, { lm.wte.weight, lm.blocks[1].attn.key.weight })
end
