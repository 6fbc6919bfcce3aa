-- The seeds' attention modules (nn.MHA, MQA, GQA, MLA, GatedLatentAttention):
-- parameter counts and names as in the seeds, each module against the
-- seed's computation composed from lunet's plain ops (explicit matmul,
-- expand, masked_fill, softmax, and RoPE written out), gradchecks at
-- small sizes, what masks and causal masking may and may not affect, and
-- the errors.  (The comparison with PyTorch itself lives in the fixture
-- specs.)
local lu = require "luaunit"
local lunet = require "lunet"
local nn = lunet.nn
local H = require "helpers"

-- the seeds' example: batch 2, seq 10, the last 5 positions masked
local function seed_mask(B, S, keep)
  local m = lunet.ones { B, S }
  for b = 1, B do for s = keep + 1, S do m:set({ b, s }, 0) end end
  return m
end

-- x W^T + b without the fused op
local function lin(m, x)
  local y = x:matmul(m.weight:t())
  return m.bias and y + m.bias or y
end

-- {B,H,S,S} scores -> masked (seed: mask[:, None, None, :] == 0), causal, softmax, times v
local function attend(scores, v, mask, causal, fill)
  local B, S = scores:size(1), scores:size(3)
  if mask then scores = scores:masked_fill(mask:eq(0):view { B, 1, 1, S }, fill or -1e9) end
  if causal then
    local pos = lunet.arange(S)
    scores = scores:masked_fill(pos:view { S, 1 }:lt(pos:view { 1, S }), fill or -1e9)
  end
  return scores:softmax(-1):matmul(v)
end

local function heads_of(t, n)                       -- {B,S,n*D} -> {B,n,S,D}
  local B, S, W = t:size(1), t:size(2), t:size(3)
  return t:view { B, S, n, W // n }:transpose(2, 3)
end

local function merge(t)                             -- {B,H,S,D} -> {B,S,H*D}
  local B, Hh, S, D = t:size(1), t:size(2), t:size(3), t:size(4)
  return t:transpose(2, 3):reshape { B, S, Hh * D }
end

-- seed 002's MHA/MQA/GQA: kv heads expanded to every query head, as its
-- unsqueeze/expand does (group g serves query heads g*G .. g*G+G-1)
local function seed_qkv(m, x, mask, causal)
  local B, S, Hq, D = x:size(1), x:size(2), m.num_heads, m.head_dim
  local Hk = m.key.out_features // D
  local function kv(layer)
    local t = heads_of(lin(layer, x), Hk)
    return t:unsqueeze(3):expand { B, Hk, Hq // Hk, S, D }:reshape { B, Hq, S, D }
  end
  local q, k, v = heads_of(lin(m.query, x), Hq), kv(m.key), kv(m.value)
  local scores = q:matmul(k:transpose(3, 4)) / math.sqrt(D)
  return lin(m.out_projection, merge(attend(scores, v, mask, causal)))
end

-- the seed's RoPE written with views: its "cos" table is sin(angle) and
-- its "sin" table cos(angle); rot(x) = stack(-x_odd, x_even) interleaved
local function seed_rope(x)
  local shape = x:shape()
  local S, R = shape[#shape - 1], shape[#shape]
  local costab, sintab = {}, {}
  for s = 1, S do
    costab[s], sintab[s] = {}, {}
    for i = 0, R // 2 - 1 do
      local a = (s - 1) * 10000 ^ (-(2 * i) / R)
      costab[s][2 * i + 1], costab[s][2 * i + 2] = math.sin(a), math.sin(a)
      sintab[s][2 * i + 1], sintab[s][2 * i + 2] = math.cos(a), math.cos(a)
    end
  end
  local pairs_ = x:reshape { x:numel() // 2, 2 }
  local rot = lunet.stack({ -pairs_:select(2, 2), pairs_:select(2, 1) }, -1):view(shape)
  return x * lunet.tensor(costab) + rot * lunet.tensor(sintab)
end

-- seed 002's MLA forward, step by step
local function seed_mla(m, h, mask, causal)
  local B, S, Hh, R = h:size(1), h:size(2), m.num_heads, m.rope_head_dim
  local c_kv = lin(m.down_proj_kv, h)
  local k_c, v_c = lin(m.up_proj_k, c_kv), lin(m.up_proj_v, c_kv)
  local c_q = lin(m.down_proj_q, h)
  local q_c = lin(m.up_proj_q, c_q)
  local q_r = seed_rope(heads_of(lin(m.proj_qr, c_q), Hh))
  local k_r = seed_rope(lin(m.proj_kr, h):unsqueeze(2))
  local q = lunet.cat({ heads_of(q_c, Hh), q_r }, -1)
  local k = lunet.cat({ heads_of(k_c, Hh), k_r:expand { B, Hh, S, R } }, -1)
  local scores = q:matmul(k:transpose(-1, -2)) / (math.sqrt(m.head_dim) + math.sqrt(R))
  return lin(m.fc, merge(attend(scores, heads_of(v_c, Hh), mask, causal)))
end

-- seed 000 with the fix: gated heads concatenated, not summed
local function seed_gated(m, x, mask, causal)
  local B, S, Hh, r = x:size(1), x:size(2), m.num_heads, m.latent_rank
  local k = lin(m.V_k, lin(m.U_k, x):view { B, S, Hh, r }):permute { 1, 3, 2, 4 }
  local v = lin(m.V_v, lin(m.U_v, x):view { B, S, Hh, r }):permute { 1, 3, 2, 4 }
  local q = lin(m.W_q, x):view { B, S, Hh, m.head_dim }:permute { 1, 3, 2, 4 }
  local scores = q:matmul(k:transpose(-2, -1)) / math.sqrt(m.head_dim) + m.latent_bias
  local out = attend(scores, v, mask, causal)
  local gate = lin(m.gate, x):softmax(-1):permute { 1, 3, 2 }:unsqueeze(-1)
  return lin(m.out_proj, merge(out * gate))
end

-- small configurations for the gradchecks and the reference comparisons
local SMALL = {
  { "MHA", function() return nn.MHA(16, 4) end, seed_qkv },
  { "MQA", function() return nn.MQA(16, 4) end, seed_qkv },
  { "GQA", function() return nn.GQA { 16, 4, group_size = 2 } end, seed_qkv },
  { "MLA", function() return nn.MLA { hidden_size = 16, down_dim = 8, up_dim = 8, num_heads = 4,
                                      rope_head_dim = 4 } end, seed_mla },
  { "Gated", function() return nn.GatedAttention { 16, 4, latent_rank = 3 } end, seed_gated },
}

TestAttentionModules = {}

function TestAttentionModules:setUp() lunet.manual_seed(21) end

function TestAttentionModules:test_seed_parameter_counts()
  local counts = {
    { nn.MHA(256, 8), 263168 },
    { nn.MQA(256, 8), 148032 },
    { nn.GQA(256, 8, 2), 197376 },
    { nn.MLA { hidden_size = 256, num_heads = 8 }, 111082 },
    { nn.MLA(), 111082 },
    { nn.GatedAttention(256, 8), 266512 },
  }
  for _, c in ipairs(counts) do
    local total, trainable = c[1]:num_parameters()
    lu.assertEquals(total, c[2], c[1]:class_name())
    lu.assertEquals(trainable, c[2])
  end
end

function TestAttentionModules:test_seed_parameter_names()
  lu.assertEquals(H.param_names(nn.MQA(16, 4)), {
    "query.weight", "query.bias", "key.weight", "key.bias", "value.weight", "value.bias",
    "out_projection.weight", "out_projection.bias" })
  local mla = nn.MLA()
  lu.assertEquals(H.param_names(mla), {
    "down_proj_kv.weight", "down_proj_kv.bias", "down_proj_q.weight", "down_proj_q.bias",
    "up_proj_k.weight", "up_proj_k.bias", "up_proj_v.weight", "up_proj_v.bias",
    "up_proj_q.weight", "up_proj_q.bias", "proj_qr.weight", "proj_qr.bias",
    "proj_kr.weight", "proj_kr.bias", "fc.weight", "fc.bias" })
  lu.assertEquals(mla.proj_qr.weight:shape(), { 208, 64 })
  lu.assertEquals(mla.proj_kr.weight:shape(), { 26, 256 })
  lu.assertEquals(mla.fc.weight:shape(), { 256, 128 })
  local gated = nn.GatedAttention(256, 8)
  lu.assertEquals(H.param_names(gated), {
    "latent_bias", "U_k.weight", "V_k.weight", "U_v.weight", "V_v.weight", "W_q.weight",
    "gate.weight", "gate.bias", "out_proj.weight", "out_proj.bias" })
  lu.assertEquals(gated.latent_bias:shape(), { 8, 1, 1 })
  lu.assertEquals(gated.V_k.weight:shape(), { 32, 32 })
  local gqa = nn.GQA(256, 8, 2)
  lu.assertEquals(gqa.key.weight:shape(), { 128, 256 })
  lu.assertEquals(gqa.group_num, 4)
  lu.assertTrue(rawequal(nn.MHA, nn.MultiHeadAttention) and rawequal(nn.MLA, nn.MultiHeadLatentAttention))
end

function TestAttentionModules:test_seed_config_shapes()
  local x, mask = lunet.randn { 2, 10, 256 }, seed_mask(2, 10, 5)
  for _, m in ipairs { nn.MHA(256, 8), nn.MQA(256, 8), nn.GQA(256, 8, 2), nn.MLA { hidden_size = 256 },
                       nn.GatedAttention(256, 8) } do
    lu.assertEquals(m(x, mask):shape(), { 2, 10, 256 }, m:class_name())
    lu.assertEquals(m(x):shape(), { 2, 10, 256 })
  end
end

function TestAttentionModules:test_match_seed_computation()
  local x, mask = lunet.randn { 2, 5, 16 }, seed_mask(2, 5, 3)
  for _, c in ipairs(SMALL) do
    local m, ref = c[2](), c[3]
    if c[1] == "Gated" then   -- a non-zero latent bias, so it is exercised
      lunet.no_grad(function() m.latent_bias:copy_(lunet.randn { 4, 1, 1 }) end)
    end
    H.assert_close(m(x, mask), ref(m, x, mask), 1e-5, c[1] .. " masked")
    H.assert_close(m(x), ref(m, x), 1e-5, c[1])
    H.assert_close(m(x, mask, { causal = true }), ref(m, x, mask, true), 1e-5, c[1] .. " causal")
  end
  -- at the seed's own sizes too
  local big, bmask = lunet.randn { 2, 10, 256 }, seed_mask(2, 10, 5)
  local mla = nn.MLA()
  H.assert_close(mla(big, bmask), seed_mla(mla, big, bmask), 1e-4, "MLA seed sizes")
  local gqa = nn.GQA(256, 8, 2)
  H.assert_close(gqa(big, bmask), seed_qkv(gqa, big, bmask), 1e-4, "GQA seed sizes")
end

function TestAttentionModules:test_gradcheck()
  local mask = seed_mask(2, 3, 2)
  for _, c in ipairs(SMALL) do
    local m = c[2]()
    local x = H.leaf(lunet.randn { 2, 3, 16 })
    local params = {}
    for _, p in ipairs(m:parameters()) do
      if #params < 3 and p:numel() <= 64 then params[#params + 1] = p end   -- biases, small factors
    end
    local first = m:parameters()[1]
    local inputs = { x, first, table.unpack(params) }
    H.gradcheck(function() return m(x, mask) end, inputs)
    H.gradcheck(function() return m(x, nil, { causal = true }) end, { x, m:parameters()[2] })
  end
end

function TestAttentionModules:test_masked_keys_do_not_matter()
  local mask = seed_mask(2, 6, 4)                  -- positions 5, 6 masked
  for _, c in ipairs(SMALL) do
    local m = c[2]()
    local x = lunet.randn { 2, 6, 16 }
    local y = m(x, mask)
    local x2 = x:clone()
    lunet.no_grad(function() x2:narrow(2, 5, 1):copy_(lunet.randn { 2, 1, 16 } * 10) end)
    local y2 = m(x2, mask)
    -- every query row but the perturbed one sees the same keys and values
    for _, s in ipairs { 1, 2, 3, 4, 6 } do
      H.assert_close(y2:narrow(2, s, 1), y:narrow(2, s, 1), 1e-5, c[1] .. " row " .. s)
    end
    lu.assertNotEquals(y2:narrow(2, 5, 1):totable(), y:narrow(2, 5, 1):totable())
    -- without the mask, position 5 is a key like any other
    lu.assertNotEquals(m(x2):narrow(2, 1, 1):totable(), m(x):narrow(2, 1, 1):totable())
  end
end

function TestAttentionModules:test_causal_ignores_the_future()
  for _, c in ipairs(SMALL) do
    local m = c[2]()
    local x = lunet.randn { 1, 5, 16 }
    local x2 = x:clone()
    lunet.no_grad(function() x2:narrow(2, 4, 1):copy_(lunet.randn { 1, 1, 16 }) end)
    local y, y2 = m(x, nil, { causal = true }), m(x2, nil, { causal = true })
    H.assert_close(y2:narrow(2, 1, 3), y:narrow(2, 1, 3), 1e-5, c[1])
    lu.assertNotEquals(y2:narrow(2, 5, 1):totable(), y:narrow(2, 5, 1):totable())
  end
end

function TestAttentionModules:test_fully_masked_row_gives_no_nan()
  local mask = lunet.tensor { { 1, 1, 1 }, { 0, 0, 0 } }
  for _, c in ipairs(SMALL) do
    local m = c[2]()
    local x = H.leaf(lunet.randn { 2, 3, 16 })
    local y = m(x, mask)
    y:sum():backward()
    for _, t in ipairs { y, x.grad } do
      for _, v in ipairs(t:reshape { t:numel() }:totable()) do lu.assertTrue(v == v, c[1] .. " NaN") end
    end
  end
  -- the fused op gives a fully masked query zero weights: MHA's output is the projection's bias
  local mha = nn.MHA(16, 4)
  local y = mha(lunet.randn { 2, 3, 16 }, mask)
  H.assert_close(y:select(1, 2), mha.out_projection.bias:view { 1, 16 }:expand { 3, 16 }, 1e-6)
end

function TestAttentionModules:test_dropout_obeys_train_eval()
  local x = lunet.randn { 2, 4, 16 }
  for _, m in ipairs { nn.MHA { 16, 4, dropout = 0.5 }, nn.MLA { 16, 8, 8, 4, 4, 0.5 } } do
    m:eval()
    H.assert_close(m(x), m(x), 0)
    m:train()
    lu.assertNotEquals(m(x):totable(), m(x):totable(), m:class_name())
  end
end

function TestAttentionModules:test_errors()
  H.raises("MultiHeadAttention: hidden_size 250 is not divisible by num_heads 8",
           function() return nn.MHA(250, 8) end)
  H.raises("MultiQueryAttention: hidden_size 10 is not divisible by num_heads 4",
           function() return nn.MQA(10, 4) end)
  H.raises("GroupedQueryAttention: num_heads 8 is not divisible by group_size 3",
           function() return nn.GQA { 256, 8, group_size = 3 } end)
  H.raises("MultiHeadLatentAttention: up_dim 100 is not divisible by num_heads 8",
           function() return nn.MLA { up_dim = 100 } end)
  H.raises("MultiHeadLatentAttention: rope_head_dim must be even, got 5",
           function() return nn.MLA { rope_head_dim = 5 } end)
  H.raises("GatedLatentAttention: d_model 30 is not divisible by num_heads 8",
           function() return nn.GatedAttention(30, 8) end)
  H.raises("MultiHeadAttention: num_heads must be a positive integer, got 0",
           function() return nn.MHA(256, 0) end)
  H.raises("MultiHeadAttention: missing option 'num_heads'", function() return nn.MHA { hidden_size = 256 } end)
  local mha = nn.MHA(256, 8)
  H.raises("MultiHeadAttention: input width 128 does not match hidden_size 256",
           function() mha(lunet.zeros { 2, 10, 128 }) end)
  H.raises("MultiHeadAttention: input {10,256} must be {batch, seq, 256}",
           function() mha(lunet.zeros { 10, 256 }) end)
  H.raises("MultiHeadAttention: mask has shape {2,5}, expected {2,10} (batch, seq)",
           function() mha(lunet.zeros { 2, 10, 256 }, lunet.ones { 2, 5 }) end)
  H.raises("MultiHeadAttention: mask must be a tensor {batch, seq}, got string",
           function() mha(lunet.zeros { 2, 10, 256 }, "all") end)
  H.raises("MultiHeadAttention: options must be a table, got boolean",
           function() mha(lunet.zeros { 2, 10, 256 }, nil, true) end)
  H.raises("GatedLatentAttention: input width 16 does not match d_model 256",
           function() nn.GatedAttention(256, 8)(lunet.zeros { 1, 2, 16 }) end)
  H.raises("MultiHeadLatentAttention: mask has shape {3,10}, expected {2,10}",
           function() nn.MLA()(lunet.zeros { 2, 10, 256 }, lunet.ones { 3, 10 }) end)
end

function TestAttentionModules:test_state_dict_interchange()
  -- a checkpoint keyed by the seed's names loads and reproduces the module
  local a, b = nn.MLA { 16, 8, 8, 4, 4 }, nn.MLA { 16, 8, 8, 4, 4 }
  local sd = {}
  for name, p in a:named_parameters() do sd[name] = p:clone() end
  b:load_state_dict(sd)
  local x = lunet.randn { 1, 3, 16 }
  H.assert_close(b(x), a(x), 0)
  H.raises("1 missing key (latent_bias)", function()
    local g = nn.GatedAttention(16, 4)
    local partial = g:state_dict()
    partial.latent_bias = nil
    g:load_state_dict(partial)
  end)
end
