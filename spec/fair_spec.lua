-- Fair comparisons: the width rule (the seeds' sizes at 256/8, the same
-- proportions at any width), warnings for sizes that cannot work well, and
-- matched budgets in lunet.compare and TransformerLM.
local lu = require "luaunit"
local lunet = require "lunet"
local H = require "helpers"
local nn = lunet.nn
local attention = require "lunet.nn.attention"
local compare = require "lunet.compare"

TestWidthRule = {}

local function params(m) return (m:num_parameters()) end

function TestWidthRule:test_the_seeds_configuration_at_256_8()
  lunet.manual_seed(0)
  local mla = nn.MLA { hidden_size = 256, num_heads = 8 }
  lu.assertEquals({ mla.down_dim, mla.up_dim, mla.rope_head_dim }, { 64, 128, 26 })
  lu.assertEquals({ nn.MLA().down_dim, nn.MLA().up_dim, nn.MLA().rope_head_dim }, { 64, 128, 26 })
  local gated = nn.GatedAttention { d_model = 256, num_heads = 8 }
  lu.assertEquals(gated.latent_rank, 32)
  local gqa = nn.GQA { hidden_size = 256, num_heads = 8 }
  lu.assertEquals(gqa.group_size, 2)
  -- the seeds' parameter counts, and the same modules through the factory
  local seeds = { mha = 263168, mqa = 148032, gqa = 197376, mla = 111082, gated = 266512 }
  for name, n in pairs(seeds) do
    lu.assertEquals(params(attention.new(name, 256, 8)), n, name)
    lu.assertEquals(attention.measure(attention.probe(name, 256, 8), "params"), n, name)
  end
  lu.assertEquals(params(mla), seeds.mla)
  lu.assertEquals(params(gated), seeds.gated)
  lu.assertEquals(params(gqa), seeds.gqa)
end

-- MLA's parameters, written out from the layers (an independent count)
local function mla_params(hidden, H_, down, up, R)
  local function linear(i, o) return i * o + o end
  return 2 * linear(hidden, down) + 3 * linear(down, up) + linear(down, R * H_) + linear(hidden, R)
         + linear(up, hidden)
end

function TestWidthRule:test_512_16_follows_the_rule()
  local mla = nn.MLA { hidden_size = 512, num_heads = 16 }
  local mha = nn.MHA { hidden_size = 512, num_heads = 16 }
  -- the rule: a quarter of the width for the latent, half a head of
  -- content dims per head, 13/16 of the head dim (even) for RoPE
  lu.assertEquals(mla.down_dim, 128)
  lu.assertEquals(mla.up_dim // mla.num_heads, mha.head_dim // 2)      -- 16 content dims per head
  lu.assertEquals(mla.rope_head_dim, 26)
  lu.assertEquals(params(mla), mla_params(512, 16, 128, 256, 26))
  -- the same proportions as the seeds': MLA / MHA parameters stay near 0.42
  local seed_ratio = 111082 / 263168
  lu.assertTrue(math.abs(params(mla) / params(mha) - seed_ratio) < 0.03)
  lu.assertEquals(nn.GatedAttention { d_model = 512, num_heads = 16 }.latent_rank, 32)
  -- 1024 wide with 8 heads: head_dim 128
  local big = attention.probe("mla", 1024, 8)
  lu.assertEquals({ big.down_dim, big.up_dim, big.rope_head_dim }, { 256, 512, 104 })
end

function TestWidthRule:test_a_small_model_gets_a_small_latent()
  local lm = nn.TransformerLM { vocab_size = 16, d_model = 32, n_layer = 1, num_heads = 2, attention = "mla" }
  local attn = lm.blocks[1].attn
  lu.assertTrue(attn.down_dim <= 32)
  lu.assertEquals({ attn.down_dim, attn.up_dim, attn.rope_head_dim }, { 8, 16, 14 })
end

function TestWidthRule:test_explicit_options_win()
  local mla = nn.MLA { hidden_size = 512, num_heads = 16, down_dim = 64 }
  lu.assertEquals({ mla.down_dim, mla.up_dim, mla.rope_head_dim }, { 64, 256, 26 })
  local lm = nn.TransformerLM { 16, 64, 1, 4, attention = "gated", latent_rank = 4 }
  lu.assertEquals(lm.blocks[1].attn.latent_rank, 4)
  lu.assertEquals(nn.GQA { hidden_size = 64, num_heads = 8, group_size = 4 }.group_size, 4)
  lu.assertEquals(nn.GQA { hidden_size = 60, num_heads = 3 }.group_size, 1)   -- odd heads: groups of 1
end

function TestWidthRule:test_configurations_that_cannot_work_well()
  local function warned(fn)
    H.warnings = {}
    fn()
    return table.concat(H.warnings, "\n")
  end
  lu.assertStrContains(warned(function() return nn.MLA { hidden_size = 32, num_heads = 2, down_dim = 64 } end),
                       "MultiHeadLatentAttention: down_dim 64 is wider than hidden_size 32: the latent does not compress")
  lu.assertStrContains(warned(function() return nn.MLA { hidden_size = 64, num_heads = 8 } end),
                       "MultiHeadLatentAttention: up_dim 32 / num_heads 8 = 4 gives fewer than 8 content dims per head")
  lu.assertStrContains(warned(function() return nn.MHA { hidden_size = 16, num_heads = 4 } end),
                       "MultiHeadAttention: head_dim 4 gives fewer than 8 content dims per head")
  lu.assertStrContains(warned(function() return nn.GatedAttention { 64, 4, latent_rank = 32 } end),
                       "GatedLatentAttention: latent_rank 32 is wider than head_dim 16: the latent does not compress")
  lu.assertEquals(warned(function() return nn.MLA() end), "")                     -- the seeds' sizes are fine
  lu.assertEquals(warned(function() return nn.TransformerLM { 32, 128, 2, 4, attention = "mla" } end), "")
  H.raises("MultiHeadLatentAttention: rope_head_dim must be even, got 25",
           function() return nn.MLA { rope_head_dim = 25 } end)
  H.raises("MultiHeadLatentAttention: up_dim 100 is not divisible by num_heads 8",
           function() return nn.MLA { up_dim = 100 } end)
end

-- ---------------------------------------------------------------- budgets

TestBudgets = {}

-- achieved is within 5% of target, or no neighbouring free size is closer
local function nearest(name, width, heads, row, metric, seq)
  if math.abs(row.achieved / row.target - 1) <= 0.05 then return true end
  local free, n = row.free[1], row.free[2]
  for _, m in ipairs { n - 1, n + 1 } do
    if m >= 1 then
      local opts = { [free] = m }
      if name == "mla" then opts.up_dim = row.options.up_dim end
      local v = attention.measure(attention.probe(name, width, heads, opts), metric, seq)
      if math.abs(v - row.target) < math.abs(row.achieved - row.target) then return false end
    end
  end
  return true
end

function TestBudgets:test_compare_matches_every_variant()
  for _, shape in ipairs { { 256, 8 }, { 512, 16 } } do
    local width, heads = shape[1], shape[2]
    for _, m in ipairs { { "kv", nil }, { "kv", 128 }, { "params", nil }, { "params", 200000 }, { "flops", nil } } do
      local rows = compare { hidden_size = width, num_heads = heads, match = m[1], target = m[2], seq = 16 }
      lu.assertEquals(#rows, 5)
      for _, r in ipairs(rows) do
        local what = string.format("%s %s at %d/%d", r.variant, m[1], width, heads)
        lu.assertTrue(nearest(r.variant, width, heads, r, m[1], 16), what)
        -- the built module has the figure the probe promised
        if m[1] == "params" then lu.assertEquals(params(r.module), r.achieved, what) end
        if m[1] == "kv" then lu.assertEquals(r.module:kv_floats_per_token(), r.achieved, what) end
      end
      if m[2] == 128 then   -- every variant can reach this one exactly
        for _, r in ipairs(rows) do lu.assertEquals(r.achieved, 128, r.variant) end
      end
    end
  end
end

function TestBudgets:test_matched_flops_are_what_a_run_measures()
  local rows = compare { hidden_size = 64, num_heads = 4, match = "flops", seq = 12 }
  for _, r in ipairs(rows) do
    local measured = lunet.profile.count(r.module, { 1, 12, 64 }, { backward = false })
    H.assert_close(measured.forward_flops / 12, r.achieved, 1e-12, r.variant)
    lu.assertTrue(math.abs(r.gap) <= 0.05, r.variant)
  end
end

function TestBudgets:test_compare_defaults_and_errors()
  local rows = compare { build = false }
  lu.assertEquals(rows[4].options, { down_dim = 64, up_dim = 128, rope_head_dim = 26 })
  lu.assertNil(rows[1].module)
  local text = compare.format(compare { match = "kv", target = 128, build = false })
  lu.assertStrContains(text, "target kv")
  lu.assertStrContains(text, "+0.0%")
  H.raises("compare: match must be 'flops', 'kv' or 'params', got memory", compare, { match = "memory" })
  H.raises("compare: target needs match", compare, { target = 3 })
  H.raises("compare: unknown option 'heads' (did you mean 'num_heads'?)", compare, { heads = 3 })
  H.raises("attention: mla: match chooses down_dim, so it cannot be given too",
           compare, { match = "kv", options = { mla = { down_dim = 3 } } })
  H.raises("compare: options.gqa: unknown option 'latent_rank'",
           compare, { options = { gqa = { latent_rank = 3 } } })
end

function TestBudgets:test_transformer_lm_at_equal_params_and_kv()
  for _, name in ipairs(attention.names) do
    local base = { vocab_size = 32, d_model = 64, n_layer = 2, num_heads = 4, max_len = 32, attention = name }
    local o = {}
    for k, v in pairs(base) do o[k] = v end
    o.match = "params"
    local lm = nn.TransformerLM(o)
    local mha = nn.TransformerLM { vocab_size = 32, d_model = 64, n_layer = 2, num_heads = 4, max_len = 32 }
    lu.assertEquals(lm.budget.target, params(mha), name)
    lu.assertEquals(lm.budget.achieved, params(lm), name)
    lu.assertTrue(math.abs(lm.budget.achieved / lm.budget.target - 1) < 0.05, name)
    o.match, o.target = "kv", 96
    lm = nn.TransformerLM(o)
    lu.assertEquals(lm.budget.achieved, lm:new_cache():floats_per_token(), name)
    lu.assertTrue(math.abs(lm.budget.achieved / 96 - 1) < 0.05, name)
  end
  H.raises("TransformerLM: match must be 'params' or 'kv', got flops",
           function() return nn.TransformerLM { 32, 64, 2, 4, match = "flops" } end)
  H.raises("TransformerLM: target must be a number above the params the attention does not set",
           function() return nn.TransformerLM { 32, 64, 2, 4, match = "params", target = 10 } end)
end

-- the README's lunet.compare example prints what its table shows: run the
-- README's own code and compare
function TestBudgets:test_readme_example_table_is_the_codes()
  local readme = assert(H.read_file("../README.md"))
  local code, shown = readme:match("```lua\n(local compare = require \"lunet.compare\"\n.-)```\n\n```\n(.-)\n```")
  lu.assertNotNil(code, "README: no lunet.compare example")
  local printed = {}
  H.with_globals({ print = function(s) printed[#printed + 1] = s end }, function()
    assert(load(code, "=README", "t", setmetatable({ require = require, print = print }, { __index = _G })))()
  end)
  lu.assertEquals(table.concat(printed, "\n"), shown)
end
