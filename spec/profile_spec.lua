-- lunet.profile: the work counters of the ops, the seeds' table of
-- parameters and thop "FLOPs", measured counts equal to each attention
-- module's costs() formula over several shapes, the KV cache, the
-- summary (also of a TransformerLM), and that counting leaves nothing
-- switched on behind it.
local lu = require "luaunit"
local lunet = require "lunet"
local nn = lunet.nn
local profile = lunet.profile
local Module = nn.Module
local H = require "helpers"

local FIELDS = { "linear_macs", "forward_flops", "attention_flops", "backward_flops",
                 "activations" }

local function mask_last(B, S, n)
  local m = lunet.ones { B, S }
  for b = 1, B do for s = S - n + 1, S do m:set({ b, s }, 0) end end
  return m
end

-- measured == formula for every field, for module m on {B, S, width}
local function check(m, B, S, o)
  o = o or {}
  local width = m.hidden_size or m.d_model
  local r = profile.count(m, { B, S, width }, {
    mask = o.mask and mask_last(B, S, math.max(1, S // 3)) or nil, causal = o.causal,
  })
  local f = m:costs(B, S, o)
  local what = string.format("%s B=%d S=%d width=%d mask=%s causal=%s", m:class_name(), B, S,
                             width, tostring(o.mask), tostring(o.causal))
  lu.assertEquals(r.params.total, f.params, what .. ": params")
  lu.assertEquals(r.params.trainable, f.params, what .. ": trainable params")
  for _, k in ipairs(FIELDS) do
    lu.assertEquals(r[k], f[k], what .. ": " .. k)
  end
  lu.assertEquals(r.kv_cache.floats_per_token_per_layer, m:kv_floats_per_token(), what .. ": kv")
  return r, f
end

-- ---------------------------------------------------------------- op counters

TestProfileOps = {}

-- the counters of scope 0 around fn (no module involved)
local function counted(fn)
  lunet._prof_start(1)
  local ok, err = pcall(fn)
  lunet._prof_stop()
  if not ok then error(err, 0) end
  return lunet._prof_get(0)
end

function TestProfileOps:test_matmul_forward_and_backward()
  local a, b = H.leaf(lunet.randn { 2, 3, 4 }), H.leaf(lunet.randn { 4, 5 })
  local out
  local c = counted(function() out = a:matmul(b) end)
  lu.assertEquals(c.forward_flops, 2 * 2 * 3 * 4 * 5)
  c = counted(function() out:backward(lunet.ones_like(out)) end)
  lu.assertEquals(c.backward_flops, 2 * 2 * 2 * 3 * 4 * 5)   -- the two products
end

function TestProfileOps:test_reductions_and_softmax()
  local x = H.leaf(lunet.randn { 4, 6 })
  local s, y
  local c = counted(function() s = x:sum(2) end)
  lu.assertEquals(c.forward_flops, 24)
  c = counted(function() s:backward(lunet.ones_like(s)) end)
  lu.assertEquals(c.backward_flops, 24)
  c = counted(function() y = x:softmax(-1) end)
  lu.assertEquals(c.forward_flops, 5 * 24)
  c = counted(function() y:backward(lunet.ones_like(y)) end)
  lu.assertEquals(c.backward_flops, 4 * 24)
  c = counted(function() lunet.no_grad(function() x:max(1) x:mean() x:logsumexp(2) end) end)
  lu.assertEquals(c.forward_flops, 24 + 24 + 4 * 24)
  -- saved bytes count each saved tensor's own element size: max along a
  -- dim keeps 4 int64 indices
  c = counted(function() x:max(2) end)
  lu.assertEquals(c.saved_bytes, 4 * 8)
end

function TestProfileOps:test_attention_op()
  local B, Hh, Hk, S, T, D, Dv = 2, 4, 2, 3, 5, 6, 7
  local q, k, v = H.leaf(lunet.randn { B, Hh, S, D }), H.leaf(lunet.randn { B, Hk, T, D }),
                  H.leaf(lunet.randn { B, Hk, T, Dv })
  local out
  local c = counted(function() out = lunet.attention(q, k, v) end)
  local pairs = B * Hh * S * T
  lu.assertEquals(c.forward_flops, pairs * (2 * D + 2 * Dv + 5))
  lu.assertEquals(c.attention_flops, c.forward_flops)
  c = counted(function() out:backward(lunet.ones_like(out)) end)
  lu.assertEquals(c.backward_flops, pairs * (6 * D + 4 * Dv + 6))
  -- causal: queries are the last S of T positions, query i sees i + T - S + 1 keys
  c = counted(function()
    lunet.no_grad(function() lunet.attention(q, k, v, { causal = true }) end)
  end)
  lu.assertEquals(c.forward_flops, B * Hh * (3 + 4 + 5) * (2 * D + 2 * Dv + 5))
end

function TestProfileOps:test_counters_off_by_default()
  lu.assertFalse(lunet._prof_active())
  lu.assertFalse(Module._profiling.on)
end

-- ---------------------------------------------------------------- the seeds

TestProfileSeeds = {}

-- seed 002's table: batch 1, seq 10, hidden 256, 8 heads; thop's "FLOPs"
-- are the Linear layers' multiply-accumulates
function TestProfileSeeds:test_the_seeds_table()
  local cases = {
    { nn.MultiHeadAttention { hidden_size = 256, num_heads = 8 }, 263168, 2621440 },
    { nn.MultiQueryAttention { hidden_size = 256, num_heads = 8 }, 148032, 1474560 },
    { nn.GroupedQueryAttention { hidden_size = 256, num_heads = 8, group_size = 2 },
      197376, 1966080 },
    { nn.MultiHeadLatentAttention { hidden_size = 256, num_heads = 8 }, 111082, 1100800 },
  }
  for _, c in ipairs(cases) do
    local r = profile.count(c[1], { 1, 10, 256 }, { backward = false })
    lu.assertEquals(r.params.total, c[2], c[1]:class_name())
    lu.assertEquals(r.linear_macs, c[3], c[1]:class_name())
    lu.assertEquals(string.format("%.1f", r.linear_macs), string.format("%d.0", c[3]))
    lu.assertNil(r.backward_flops)
  end
end

function TestProfileSeeds:test_kv_cache_per_token()
  local function kv(m)
    return profile.count(m, { 1, 4, m.hidden_size or m.d_model }, { backward = false }).kv_cache
  end
  local cases = {
    { nn.MHA { 256, 8 }, 2 * 8 * 32 },
    { nn.MQA { 256, 8 }, 2 * 32 },
    { nn.GQA { 256, 8, 2 }, 2 * 4 * 32 },
    { nn.MLA {}, 64 + 26 },
    { nn.GatedLatentAttention { 256, 8 }, 2 * 8 * 32 },           -- latent_rank 32 = head_dim
    { nn.GatedLatentAttention { 256, 8, 8 }, 2 * 8 * 8 },         -- the latents are smaller
    { nn.GatedLatentAttention { 64, 8, 32 }, 2 * 8 * 8 },         -- k and v themselves are
  }
  for _, c in ipairs(cases) do
    local r = kv(c[1])
    lu.assertEquals(r.floats_per_token_per_layer, c[2], c[1]:class_name())
    lu.assertEquals(r.bytes_per_token_per_layer, 4 * c[2])
    lu.assertEquals(r.layers, 1)
  end
end

-- ---------------------------------------------------------------- formulas

TestProfileFormulas = {}

-- measured == formula at three batch/seq shapes: plain, masked, causal
local function check_shapes(m)
  check(m, 1, 10)
  check(m, 2, 7, { mask = true })
  check(m, 3, 5, { causal = true })
end

function TestProfileFormulas:test_mha_mqa_gqa()
  for _, dims in ipairs { { 256, 8 }, { 64, 4 }, { 48, 6 } } do
    local hidden, heads = dims[1], dims[2]
    local mods = { nn.MHA { hidden, heads }, nn.MQA { hidden, heads } }
    for g = 1, heads do
      if heads % g == 0 then mods[#mods + 1] = nn.GQA { hidden, heads, g } end
    end
    for _, m in ipairs(mods) do
      check_shapes(m)
    end
  end
end

function TestProfileFormulas:test_mla()
  local mods = {
    nn.MLA {},
    nn.MLA { hidden_size = 64, down_dim = 16, up_dim = 32, num_heads = 4, rope_head_dim = 8 },
    nn.MLA { hidden_size = 48, down_dim = 20, up_dim = 24, num_heads = 6, rope_head_dim = 4 },
  }
  for _, m in ipairs(mods) do
    check_shapes(m)
  end
end

function TestProfileFormulas:test_gated()
  for _, m in ipairs { nn.GatedLatentAttention { 256, 8 }, nn.GatedLatentAttention { 64, 4, 8 },
                       nn.GatedLatentAttention { 48, 6, 3 } } do
    check_shapes(m)
  end
end

-- a long sequence: MLA's RoPE tables (512 positions) grow before counting
function TestProfileFormulas:test_long_sequence()
  check(nn.MLA { hidden_size = 32, down_dim = 8, up_dim = 16, num_heads = 2, rope_head_dim = 4 },
        1, 600)
  check(nn.MHA { 32, 2 }, 1, 600, { causal = true })
end

-- without the input's gradient, backward skips the first layers' input products
function TestProfileFormulas:test_input_without_grad()
  local m = nn.MHA { 64, 4 }
  local r = profile.count(m, lunet.randn { 2, 5, 64 })
  lu.assertEquals(r.backward_flops, m:costs(2, 5, { grad_input = false }).backward_flops)
  r = profile.count(m, { 2, 5, 64 }, { grad_input = false })
  lu.assertEquals(r.backward_flops, m:costs(2, 5, { grad_input = false }).backward_flops)
end

-- ---------------------------------------------------------------- rows, summary

TestProfileSummary = {}

function TestProfileSummary:test_rows()
  local m = nn.MHA { 64, 4 }
  local r = profile.count(m, { 2, 5, 64 })
  local root = r.rows[1]
  lu.assertEquals(root.name, "")
  lu.assertEquals(root.type, "MultiHeadAttention")
  lu.assertEquals(root.output_shape, { 2, 5, 64 })
  for _, k in ipairs { "linear_macs", "forward_flops", "attention_flops", "backward_flops" } do
    lu.assertEquals(root[k], r[k], k)
  end
  local byname = {}
  for _, row in ipairs(r.rows) do byname[row.name] = row end
  local q = byname.query
  lu.assertEquals(q.type, "Linear")
  lu.assertEquals(q.depth, 1)
  lu.assertEquals(q.params, 64 * 64 + 64)
  lu.assertEquals(q.linear_macs, 10 * 64 * 64)
  lu.assertEquals(q.forward_flops, 2 * 10 * 64 * 64 + 10 * 64)
  lu.assertEquals(q.calls, 1)
  lu.assertEquals(byname.dropout.calls, 0)   -- the fused op takes its rate instead
  lu.assertEquals(root.own.attention_flops, r.attention_flops)
end

function TestProfileSummary:test_commas()
  lu.assertEquals(profile.commas(0), "0")
  lu.assertEquals(profile.commas(999), "999")
  lu.assertEquals(profile.commas(1000), "1,000")
  lu.assertEquals(profile.commas(2621440), "2,621,440")
  lu.assertEquals(profile.commas(-1234567), "-1,234,567")
  lu.assertEquals(profile.commas(1e15), "1,000,000,000,000,000")
end

function TestProfileSummary:test_summary_of_attention()
  local r = profile.summary(nn.MHA { 256, 8 }, { 1, 10, 256 })
  local s = tostring(r)
  lu.assertStrContains(s, "Layer (type)")
  lu.assertStrContains(s, "MultiHeadAttention")
  lu.assertStrContains(s, "query (Linear)")
  lu.assertStrContains(s, "{1,10,256}")
  lu.assertStrContains(s, "263,168")
  lu.assertStrContains(s, "Linear MACs (thop): 2,621,440")
  lu.assertStrContains(s, "KV cache per token per layer: 512 floats (2,048 bytes)")
  lu.assertNil(r.backward_flops)
end

function TestProfileSummary:test_summary_of_a_transformer_lm()
  lunet.manual_seed(1)
  local V, d, L, heads, B, S = 50, 32, 2, 4, 2, 8
  local lm = nn.TransformerLM { vocab_size = V, d_model = d, n_layer = L, num_heads = heads }
  local r = profile.summary(lm, { B, S }, { backward = true })
  local s = tostring(r)
  local total = lm:num_parameters()
  lu.assertStrContains(s, "TransformerLM")
  lu.assertStrContains(s, "wte (Embedding)")
  lu.assertStrContains(s, "attn (MultiHeadAttention)")
  lu.assertStrContains(s, "(own ops)")            -- the tied output head
  lu.assertStrContains(s, "Total params: " .. profile.commas(total))
  lu.assertEquals(r.output_shape, { B, S, V })
  lu.assertEquals(r.kv_cache.layers, L)
  lu.assertEquals(r.kv_cache.floats_per_token, L * 2 * d)
  -- MACs: per block the attention's formula and the MLP, then the tied head
  local attn = lm.blocks[1].attn:costs(B, S, { causal = true })
  local M = B * S
  lu.assertEquals(r.linear_macs, L * (attn.linear_macs + 2 * M * d * 4 * d) + M * d * V)
  lu.assertEquals(r.attention_flops, L * attn.attention_flops)
  lu.assertTrue(r.backward_flops > r.forward_flops)
  lu.assertTrue(r.activations > 0)
  for name, p in lm:named_parameters() do lu.assertNil(p.grad, name) end
end

function TestProfileSummary:test_summary_of_an_untied_mla_lm()
  local lm = nn.TransformerLM { vocab_size = 20, d_model = 32, n_layer = 1, num_heads = 2,
                                attention = "mla", down_dim = 8, up_dim = 16, rope_head_dim = 4,
                                tie_weights = false }
  local r = profile.summary(lm, { 1, 6 })
  local s = tostring(r)
  lu.assertStrContains(s, "lm_head (Linear)")
  lu.assertEquals(r.kv_cache.floats_per_token_per_layer, 8 + 4)
  lu.assertEquals(r.output_shape, { 1, 6, 20 })
end

-- one object: its numbers, and the table it prints once
function TestProfileSummary:test_summary_is_one_object()
  local m = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Sequential(nn.Linear(16, 4), nn.Linear(4, 2)))
  local r = profile.summary(m, { 3, 8 })
  lu.assertEquals(r.params.total, select(1, m:num_parameters()))
  lu.assertEquals(r.input_shape, { 3, 8 })
  local s = tostring(r)
  lu.assertEquals(select(2, s:gsub("Total params", "")), 1)
  lu.assertStrContains(s, "Estimated total size (MB): ")
  lu.assertStrContains(s, "Forward/backward pass size (MB): ")
  -- depth: rows below it are folded into their parents
  lu.assertStrContains(s, "0 (Linear)")
  local shallow = tostring(profile.summary(m, { 3, 8 }, { depth = 1 }))
  lu.assertStrContains(shallow, "2 (Sequential)")
  lu.assertNil(shallow:find("    1 (Linear)", 1, true))
  lu.assertNotNil(s:find("    1 (Linear)", 1, true))
  -- columns: input shapes, percentages, trainable
  local frozen = nn.Linear(8, 16)
  frozen.weight:requires_grad(false)
  local c = tostring(profile.summary(nn.Sequential(frozen, nn.Linear(16, 2)), { 3, 8 },
    { columns = { "input_shape", "output_shape", "params", "params_percent", "trainable", "flops_percent" } }))
  for _, h in ipairs { "Input Shape", "Output Shape", "Param %", "Trainable", "FLOPs %" } do
    lu.assertStrContains(c, h)
  end
  lu.assertNotStrContains(c:match("^[^\n]*\n([^\n]*)"), "Linear MACs")   -- the header line
  lu.assertNotNil(c:find("0 %(Linear%)%s+{3,8}%s+{3,16}%s+144%s+80%.9%%%s+16%s"), c)
  lu.assertStrContains(c, "Non-trainable params: 128")
  H.raises("profile.summary: unknown column 'flop' (one of", profile.summary, m, { 3, 8 }, { columns = { "flop" } })
  H.raises("profile.summary: depth must be an integer >= 0, got -1", profile.summary, m, { 3, 8 }, { depth = -1 })
end

-- the table fits 80 characters by default: columns as wide as their
-- cells, then the least needed default columns left out, then labels
-- cut; columns the caller lists all stay; width= sets the limit
function TestProfileSummary:test_summary_fits_the_width()
  local lm = nn.TransformerLM { vocab_size = 1000, d_model = 64, n_layer = 1, num_heads = 4, attention = "mla" }
  local function widest(s, rows_only)   -- rows_only: the table, not the totals below it
    local w, rules = 0, 0
    for line in s:gmatch("[^\n]+") do
      if line:match("^=+$") then rules = rules + 1 end
      if rules < 3 or not rows_only then w = math.max(w, #line) end
    end
    return w
  end
  local s = tostring(profile.summary(lm, { 64, 512 }, { depth = 4 }))
  lu.assertTrue(widest(s) <= 80, s)
  lu.assertStrContains(s, "Param #")
  lu.assertStrContains(s, "FLOPs")
  lu.assertNotStrContains(s:match("^[^\n]*\n([^\n]*)"), "Linear MACs")    -- the first left out
  lu.assertStrContains(s, "up_proj_k (Linear)")
  local small = tostring(profile.summary(nn.Linear(4, 4), { 2, 4 }))
  lu.assertStrContains(small, "Linear MACs")                                  -- room for all
  lu.assertTrue(widest(small) < 60, small)
  local narrow = tostring(profile.summary(lm, { 64, 512 }, { depth = 4, width = 50 }))
  lu.assertTrue(widest(narrow, true) <= 50, narrow)
  lu.assertStrContains(narrow, "Param #")                                     -- the last to go
  local cut = tostring(profile.summary(lm, { 64, 512 }, { depth = 4, width = 50, columns = { "params", "flops" } }))
  lu.assertTrue(widest(cut, true) <= 50, cut)
  lu.assertStrContains(cut, "...")                                            -- labels cut instead
  local all = tostring(profile.summary(lm, { 64, 512 }, { columns = profile.SUMMARY_COLUMNS }))
  for _, h in ipairs { "Input Shape", "Output Shape", "Param #", "Param %", "Trainable", "Linear MACs", "FLOPs %" } do
    lu.assertStrContains(all, h)
  end
  H.raises("profile.summary: width must be an integer >= 40, got 10", profile.summary, lm, { 1, 4 }, { width = 10 })
end

function TestProfileSummary:test_summary_rejects_unknown_options()
  local m = nn.Linear(4, 4)
  H.raises("profile.summary: unknown option 'backwards' (did you mean 'backward'?)",
           profile.summary, m, { 1, 4 }, { backwards = false })
  H.raises("profile.count: unknown option 'depth'", profile.count, m, { 1, 4 }, { depth = 2 })
  H.raises("profile.count: mode must be 'eval' or 'train', got test", profile.count, m, { 1, 4 }, { mode = "test" })
end

-- ---------------------------------------------------------------- behaviour

TestProfileBehaviour = {}

-- a language model gets ids from its vocabulary; the random generator,
-- math.random and every module's train/eval mode are as they were
function TestProfileBehaviour:test_lm_ids_rng_and_modes_are_left_alone()
  local lm = nn.TransformerLM { vocab_size = 7, d_model = 16, n_layer = 1, num_heads = 2, dropout = 0.1 }
  lm.blocks[1]:eval()                     -- a mixed state, to be kept as it is
  local seen
  lm.wte:register_forward_pre_hook(function(_, args) seen = args[1] end)
  lunet.manual_seed(5)
  local want = lunet.rand { 4 }
  lunet.manual_seed(5)
  math.randomseed(9)
  local want_math = math.random()
  math.randomseed(9)
  local r = profile.count(lm, { 2, 12 }, { mode = "train" })
  lu.assertEquals(r.output_shape, { 2, 12, 7 })
  lu.assertEquals(seen.dtype, "int64")
  lu.assertTrue(seen:ge(1):all():item() and seen:le(7):all():item())
  H.assert_close(lunet.rand { 4 }, want, 0)            -- the global stream goes on unchanged
  lu.assertEquals(math.random(), want_math)
  lu.assertTrue(lm.training)
  lu.assertFalse(lm.blocks[1].training)
  lu.assertFalse(lm.blocks[1].attn.training)
  lunet.manual_seed(5)
  profile.summary(lm, { 1, 4 })
  H.assert_close(lunet.rand { 4 }, want, 0)
  lu.assertFalse(lm.blocks[1].training)
  lu.assertTrue(lm.wte.training)
end

function TestProfileBehaviour:test_leaves_grads_and_counters_as_they_were()
  local m = nn.MHA { 32, 2 }
  local w = m.query.weight
  w.grad = lunet.full({ 32, 32 }, 7)
  local r = profile.count(m, { 1, 3, 32 })
  lu.assertTrue(r.backward_flops > 0)
  lu.assertEquals(w.grad:get { 1, 1 }, 7)
  lu.assertNil(m.key.weight.grad)
  lu.assertFalse(lunet._prof_active())
  lu.assertFalse(Module._profiling.on)
  lu.assertNil(Module._profiling.call)
end

function TestProfileBehaviour:test_errors()
  H.raises("profile: count expects a module", profile.count, {}, { 1, 2 })
  H.raises("profile: input must be a tensor or a shape", profile.count, nn.MHA { 32, 2 }, "x")
  H.raises("profile: input must be a tensor or a shape", profile.count, nn.MHA { 32, 2 }, { 1, -2 })
  -- the model's own error comes through, and counting is off afterwards
  H.raises("input width 16 does not match hidden_size 32",
           profile.count, nn.MHA { 32, 2 }, { 1, 2, 16 })
  lu.assertFalse(lunet._prof_active())
  lu.assertFalse(Module._profiling.on)
  lu.assertEquals(lunet._prof_scope(0), 0)
  local r = profile.count(nn.MHA { 32, 2 }, { 1, 2, 32 })   -- and it works again
  lu.assertEquals(r.params.total, 4 * (32 * 32 + 32))
end

function TestProfileBehaviour:test_a_model_called_inside_another_forward()
  -- a module made during forward is not in the tree: its work goes to its caller
  local Outer = Module:extend("Outer")
  function Outer:init() self.lin = nn.Linear(4, 4) end
  function Outer:forward(x) return nn.Linear(4, 2)(self.lin(x)) end
  local r = profile.count(Outer(), { 3, 4 })
  lu.assertEquals(r.linear_macs, 3 * 4 * 4 + 3 * 4 * 2)
  lu.assertEquals(r.rows[1].own.linear_macs, 3 * 4 * 2)
end

function TestProfileBehaviour:test_time()
  local ms, samples = profile.time(nn.MQA { 32, 2 }, { 1, 4, 32 }, { reps = 3, warmup = 0 })
  lu.assertEquals(#samples, 3)
  lu.assertTrue(ms > 0)
  lu.assertEquals(profile.median { 3, 1, 2 }, 2)
  lu.assertEquals(profile.median { 4, 1, 2, 3 }, 2.5)
end
