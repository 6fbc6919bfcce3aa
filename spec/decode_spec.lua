-- Decoding with a KV cache: every attention variant fed through its cache
-- (a whole prompt, then token by token, or in chunks) gives what a full
-- forward over the sequence so far gives; what each cache keeps (MLA: only
-- its latent and shared RoPE key); TransformerLM:generate (greedy against
-- full-forward argmax, sampling, options and their errors).
local lu = require "luaunit"
local lunet = require "lunet"
local nn = lunet.nn
local H = require "helpers"

local TOL = 1e-4

-- max |a - b| over all elements
local function maxdiff(a, b)
  lu.assertEquals(a:shape(), b:shape())
  return (a - b):abs():max():item()
end

local function assert_within(a, b, tol, what)
  local d = maxdiff(a, b)
  lu.assertTrue(d <= tol, string.format("%s: max |diff| %.3g > %.3g", what, d, tol))
end

-- the variants, with the options that make each small (d_model 32, 4
-- heads: head_dim 8); a name -> options for TransformerLM / the block
local VARIANTS = {
  { "mha", {} },
  { "mqa", {} },
  { "gqa", { group_size = 2 } },
  { "mla", { down_dim = 12, up_dim = 16, rope_head_dim = 4 } },
  { "gated", {} },                           -- latent_rank 32 > head_dim: caches k, v
}
-- and a few departures worth their own run
local EXTRA = {
  { "mla", { down_dim = 12, up_dim = 16, rope_head_dim = 4, rope_seed_layout = false }, "standard rope" },
  { "mla", { down_dim = 12, up_dim = 16, rope_head_dim = 4, positions = "learned", tie_weights = false },
    "learned positions" },
  { "gated", { latent_rank = 4 }, "latent cache" },   -- latent_rank 4 < head_dim: caches latents
  { "mha", { positions = "none" }, "no positions" },
}

local function make_lm(attention, extra, norm, seed)
  lunet.manual_seed(seed or 11)
  local o = { vocab_size = 20, d_model = 32, n_layer = 2, num_heads = 4, attention = attention,
              norm = norm or "layernorm", max_len = 32 }
  for k, v in pairs(extra) do o[k] = v end
  local m = nn.TransformerLM(o)
  -- N(0, 1) embeddings rather than GPT-2's N(0, 0.02), so logits are of
  -- order 1..10 and a 1e-4 agreement means something
  lunet.no_grad(function()
    m.wte.weight:normal_(0, 1)
    if m.wpe then m.wpe.weight:normal_(0, 1) end
  end)
  return m:eval()
end

-- B sequences of S ids in 1..20, fixed
local function some_ids(B, S, salt)
  local rows = {}
  for b = 1, B do
    rows[b] = {}
    for s = 1, S do rows[b][s] = (b * 7 + s * s * 3 + (salt or 0)) % 20 + 1 end
  end
  return lunet.tensor(rows)
end

-- ---------------------------------------------------------------- LM decoding

-- prefill a prompt of 5, then append 6 tokens one at a time; each step's
-- logits against a full forward over the sequence so far
local function check_incremental(m, what)
  local ids = some_ids(2, 11)
  lunet.no_grad(function()
    local cache = m:new_cache()
    local logits = m(ids:narrow(2, 1, 5), nil, { cache = cache })
    assert_within(logits, m(ids:narrow(2, 1, 5)), TOL, what .. " prefill")
    lu.assertEquals(cache.length, 5)
    for t = 6, 11 do
      logits = m(ids:narrow(2, t, 1), nil, { cache = cache })     -- {2,1,20}
      lu.assertEquals(cache.length, t)
      local full = m(ids:narrow(2, 1, t))                       -- {2,t,20}
      assert_within(logits, full:narrow(2, t, 1), TOL, string.format("%s step %d", what, t))
    end
  end)
end

TestDecodeLM = {}

function TestDecodeLM:test_incremental_equals_full_every_variant_and_norm()
  for _, norm in ipairs { "layernorm", "rmsnorm" } do
    for _, v in ipairs(VARIANTS) do
      check_incremental(make_lm(v[1], v[2], norm), v[1] .. " " .. norm)
    end
  end
end

function TestDecodeLM:test_incremental_equals_full_departures()
  for _, v in ipairs(EXTRA) do check_incremental(make_lm(v[1], v[2]), v[1] .. " " .. v[3]) end
end

-- a preallocated cache, a cache that grows one position at a time from
-- nothing, and a cache reused after reset all agree
function TestDecodeLM:test_capacity_growth_and_reset()
  local m = make_lm("gqa", {})
  local ids = some_ids(3, 9, 5)
  lunet.no_grad(function()
    local full = m(ids)
    for _, cap in ipairs { 0, 1, 9 } do
      local cache = m:new_cache { capacity = cap }
      for round = 1, 2 do
        for t = 1, 9 do
          local l = m(ids:narrow(2, t, 1), nil, { cache = cache })
          assert_within(l, full:narrow(2, t, 1), TOL, string.format("capacity %d round %d step %d", cap, round, t))
        end
        lu.assertTrue(cache.layers[1].capacity >= 9)
        cache:reset()
        lu.assertEquals(cache.length, 0)
      end
    end
  end)
end

function TestDecodeLM:test_cache_floats_per_token()
  for _, v in ipairs(VARIANTS) do
    local m = make_lm(v[1], v[2])
    local cache = m:new_cache()
    local total = 0
    for i, c in ipairs(cache.layers) do
      local attn = m.blocks[i].attn
      if attn.kv_floats_per_token then
        lu.assertEquals(c:floats_per_token(), attn:kv_floats_per_token(), v[1])
      end
      total = total + c:floats_per_token()
    end
    lu.assertEquals(cache:floats_per_token(), total)
  end
end

-- what each layer's cache really holds, counted from its tensors: B * T
-- positions of floats_per_token() floats, per layer
local function held_floats(c)
  local n, count = 0, 0
  for k, t in pairs(c:tensors()) do
    lu.assertTrue(lunet.is_tensor(t), k)
    n, count = n + t:numel(), count + 1
  end
  return n, count
end

function TestDecodeLM:test_mla_cache_holds_only_latent_and_rope_key()
  local down, R = 12, 4
  local m = make_lm("mla", { down_dim = down, up_dim = 16, rope_head_dim = R })
  local B, T = 2, 11
  lunet.no_grad(function()
    local cache = m:new_cache { capacity = T }
    m(some_ids(B, 5), nil, { cache = cache })
    for t = 6, T do m(some_ids(B, 1, t), nil, { cache = cache }) end
    lu.assertEquals(cache.length, T)
    for i, c in ipairs(cache.layers) do
      lu.assertEquals(c.capacity, T)
      local n, count = held_floats(c)
      lu.assertEquals(count, 1, "one tensor per layer")
      lu.assertEquals(c:tensors().kv:shape(), { B, 1, T, down + R })
      lu.assertEquals(n, B * T * (down + R), "layer " .. i)
      lu.assertEquals(c:floats_per_token(), down + R)
      -- and nothing else of size is kept in the cache object
      for k, val in pairs(c) do lu.assertFalse(lunet.is_tensor(val), "stray tensor " .. tostring(k)) end
    end
  end)
end

function TestDecodeLM:test_other_caches_hold_what_they_report()
  local cases = {
    { "mha", {}, { k = { 2, 4, 7, 8 }, v = { 2, 4, 7, 8 } } },
    { "mqa", {}, { k = { 2, 1, 7, 8 }, v = { 2, 1, 7, 8 } } },
    { "gqa", { group_size = 2 }, { k = { 2, 2, 7, 8 }, v = { 2, 2, 7, 8 } } },
    { "gated", {}, { k = { 2, 4, 7, 8 }, v = { 2, 4, 7, 8 } } },
    { "gated", { latent_rank = 4 }, { k_latent = { 2, 4, 7, 4 }, v_latent = { 2, 4, 7, 4 } } },
  }
  for _, case in ipairs(cases) do
    local m = make_lm(case[1], case[2])
    lunet.no_grad(function()
      local cache = m:new_cache { capacity = 7 }
      m(some_ids(2, 7), nil, { cache = cache })
      for _, c in ipairs(cache.layers) do
        local shapes = {}
        for k, t in pairs(c:tensors()) do shapes[k] = t:shape() end
        lu.assertEquals(shapes, case[3], case[1])
        local n = held_floats(c)
        lu.assertEquals(n, 2 * 7 * c:floats_per_token(), case[1])
      end
    end)
  end
end

function TestDecodeLM:test_cache_errors()
  local m = make_lm("mha", {})
  local other = make_lm("mha", {})
  lunet.no_grad(function()
    H.raises("cache must come from this model's new_cache()", function()
      m(some_ids(1, 3), nil, { cache = other:new_cache() })
    end)
    H.raises("cache must come from this model's new_cache()", function()
      m(some_ids(1, 3), nil, { cache = {} })
    end)
    local cache = m:new_cache()
    m(some_ids(2, 30), nil, { cache = cache })
    H.raises("TransformerLM: positions 31..33 (30 cached + 3 new) exceed max_len 32", function()
      m(some_ids(2, 3), nil, { cache = cache })
    end)
    lu.assertEquals(cache.length, 30)
    H.raises("cache holds a batch of 2 sequences, got a batch of 3", function()
      m(some_ids(3, 1), nil, { cache = cache })
    end)
    -- a layer's cache is that layer's alone
    local attn1, attn2 = m.blocks[1].attn, m.blocks[2].attn
    H.raises("MultiHeadAttention: cache was made by another module", function()
      attn2(lunet.randn { 1, 2, 32 }, nil, { cache = attn1:new_cache() })
    end)
    H.raises("MultiHeadAttention: cache must be a KV cache from new_cache(), got table", function()
      attn1(lunet.randn { 1, 2, 32 }, nil, { cache = {} })
    end)
    H.raises("cache capacity must be a non-negative integer, got -1", function()
      attn1:new_cache { capacity = -1 }
    end)
  end)
end

-- ---------------------------------------------------------------- generate

TestGenerate = {}

function TestGenerate:test_greedy_is_deterministic_and_the_full_forward_argmax()
  for _, v in ipairs(VARIANTS) do
    local m = make_lm(v[1], v[2], "rmsnorm")
    local prompt = some_ids(2, 5, 1)
    local out = m:generate(prompt, 6, { greedy = true })
    lu.assertEquals(out:shape(), { 2, 11 })
    lu.assertEquals(out:narrow(2, 1, 5):totable(), prompt:totable())
    lu.assertEquals(m:generate(prompt, 6, { greedy = true }):totable(), out:totable(), v[1])
    lunet.no_grad(function()
      for t = 5, 10 do
        local logits = m(out:narrow(2, 1, t))                       -- {2,t,20}
        local want = logits:select(2, t):argmax(-1)                 -- {2}
        lu.assertEquals(out:select(2, t + 1):totable(), want:totable(), v[1] .. " step " .. t)
      end
    end)
  end
end

-- the ids come back in the prompt's dtype (int64 for integer ids)
function TestGenerate:test_ids_keep_the_prompts_dtype()
  local m = make_lm("mha", VARIANTS[1][2])
  local prompt = some_ids(1, 3, 4)
  local f = m:generate(prompt, 2, { greedy = true })
  lu.assertEquals(f.dtype, "float32")
  for _, dt in ipairs { "int64", "int32", "uint8" } do
    local out = m:generate(prompt:to(dt), 2, { greedy = true })
    lu.assertEquals(out.dtype, "int64", dt)
    lu.assertEquals(out:totable(), f:totable(), dt)
  end
  lu.assertEquals(m:generate({ 1, 2 }, 1).dtype, "float32")
end

function TestGenerate:test_top_k_one_is_greedy()
  for _, v in ipairs(VARIANTS) do
    local m = make_lm(v[1], v[2])
    local prompt = some_ids(3, 5, 2)
    local greedy = m:generate(prompt, 6, { greedy = true })
    lu.assertEquals(m:generate(prompt, 6, { top_k = 1, seed = 5 }):totable(), greedy:totable(), v[1])
    lu.assertEquals(m:generate(prompt, 6, { top_k = 1, temperature = 3 }):totable(), greedy:totable(), v[1])
  end
end

function TestGenerate:test_sampling_is_reproducible_and_follows_softmax()
  local m = make_lm("mla", VARIANTS[4][2])
  local prompt = some_ids(2, 4, 3)
  local a = m:generate(prompt, 8, { seed = 123 })
  lu.assertEquals(m:generate(prompt, 8, { seed = 123 }):totable(), a:totable())
  lunet.manual_seed(123)
  lu.assertEquals(m:generate(prompt, 8):totable(), a:totable())
  -- many rows of one prompt, one step: frequencies against softmax(logits / temperature)
  local N, temp = 3000, 1.5
  local one = lunet.tensor { { 3, 9, 14, 2 } }
  local probs = lunet.no_grad(function()
    return (m(one):select(2, 4) / temp):softmax(-1):totable()[1]
  end)
  local many = lunet.tensor((function()
    local rows = {}
    for i = 1, N do rows[i] = { 3, 9, 14, 2 } end
    return rows
  end)())
  local out = m:generate(many, 1, { temperature = temp, seed = 9 }):select(2, 5):totable()
  local freq = {}
  for j = 1, 20 do freq[j] = 0 end
  for _, id in ipairs(out) do freq[id] = freq[id] + 1 / N end
  for j = 1, 20 do
    lu.assertTrue(math.abs(freq[j] - probs[j]) < 0.035,
                  string.format("token %d: frequency %.3f, probability %.3f", j, freq[j], probs[j]))
  end
  -- top_k = 3 never leaves the three most likely
  local order = {}
  for j = 1, 20 do order[j] = j end
  table.sort(order, function(x, y) return probs[x] > probs[y] end)
  local allowed = { [order[1]] = true, [order[2]] = true, [order[3]] = true }
  local top3 = m:generate(many:narrow(1, 1, 500), 1, { top_k = 3, temperature = 5, seed = 1 })
  local seen = {}
  for _, id in ipairs(top3:select(2, 5):totable()) do
    lu.assertTrue(allowed[id], "token " .. id .. " outside the top 3")
    seen[id] = true
  end
  lu.assertTrue(seen[order[1]] and seen[order[2]] and seen[order[3]], "all of the top 3 drawn at temperature 5")
end

function TestGenerate:test_list_prompt_zero_steps_and_modes()
  local m = make_lm("mqa", {})
  lu.assertEquals(m:generate({ 4, 5, 6 }, 0):totable(), { { 4, 5, 6 } })
  lu.assertEquals(m:generate({ 4, 5, 6 }, 2, { greedy = true }):shape(), { 1, 5 })
  m:train()
  m.blocks[2]:eval()
  m:generate({ 1, 2 }, 3)
  lu.assertTrue(m.training and m.blocks[1].training and m.blocks[1].attn.training)
  lu.assertFalse(m.blocks[2].training)
  lu.assertTrue(lunet.is_grad_enabled())
end

function TestGenerate:test_argument_errors()
  local m = make_lm("mha", {})
  local p = some_ids(1, 5)
  H.raises("TransformerLM: generate: temperature must be a positive finite number, got 0", function()
    m:generate(p, 3, { temperature = 0 })
  end)
  H.raises("temperature must be a positive finite number, got -1", function() m:generate(p, 3, { temperature = -1 }) end)
  H.raises("temperature must be a positive finite number, got hot", function() m:generate(p, 3, { temperature = "hot" }) end)
  H.raises("temperature must be a positive finite number, got inf", function() m:generate(p, 3, { temperature = math.huge }) end)
  H.raises("top_k must be a positive integer or nil, got 0", function() m:generate(p, 3, { top_k = 0 }) end)
  H.raises("top_k must be a positive integer or nil, got 2.5", function() m:generate(p, 3, { top_k = 2.5 }) end)
  H.raises("top_k must be a positive integer or nil, got -1", function() m:generate(p, 3, { top_k = -1 }) end)
  H.raises("unknown option 'topk'", function() m:generate(p, 3, { topk = 2 }) end)
  H.raises("seed must be an integer, got 1.5", function() m:generate(p, 3, { seed = 1.5 }) end)
  H.raises("options must be a table", function() m:generate(p, 3, "greedy") end)
  H.raises("n must be a non-negative integer, got -1", function() m:generate(p, -1) end)
  H.raises("n must be a non-negative integer, got nil", function() m:generate(p) end)
  H.raises("prompt must be a {batch, seq} tensor of token ids with seq >= 1, got {5}",
           function() m:generate(lunet.tensor { 1, 2, 3, 4, 5 }, 2) end)
  -- learned positions: max_len 32
  H.raises("TransformerLM: generate: prompt length 5 + 28 new tokens = 33 exceeds max_len 32",
           function() m:generate(p, 28) end)
  lu.assertEquals(m:generate(p, 27, { greedy = true }):shape(), { 1, 32 })
  -- RoPE only (mla): no limit
  local mla = make_lm("mla", VARIANTS[4][2])
  lu.assertEquals(mla:generate(p, 30, { greedy = true }):shape(), { 1, 35 })
  -- an id out of range is the embedding's error, and the modes are restored
  m:train()
  H.raises("embedding", function() m:generate(lunet.tensor { { 1, 21 } }, 2) end)
  lu.assertTrue(m.training and m.blocks[1].attn.training)
end

-- ---------------------------------------------------------------- single modules

local function modules()
  lunet.manual_seed(3)
  return {
    { "mha", nn.MultiHeadAttention { 32, 4 } },
    { "mqa", nn.MultiQueryAttention { 32, 4 } },
    { "gqa", nn.GroupedQueryAttention { 32, 4, group_size = 2 } },
    { "mla", nn.MultiHeadLatentAttention { hidden_size = 32, down_dim = 12, up_dim = 16, num_heads = 4,
                                           rope_head_dim = 4 } },
    { "mla standard rope", nn.MultiHeadLatentAttention { hidden_size = 32, down_dim = 12, up_dim = 16,
                                                         num_heads = 4, rope_head_dim = 6,
                                                         rope_seed_layout = false } },
    { "gated", nn.GatedLatentAttention { 32, 4 } },
    { "gated latent", nn.GatedLatentAttention { 32, 4, latent_rank = 3 } },
  }
end

-- the 9 positions of x fed in chunks; the outputs joined along the sequence
local function chunked(m, x, chunks, mask, causal, cache)
  local outs, at = {}, 1
  for _, n in ipairs(chunks) do
    local mk = mask and mask:narrow(2, 1, at + n - 1)
    outs[#outs + 1] = m(x:narrow(2, at, n), mk, { causal = causal, cache = cache })
    at = at + n
  end
  return lunet.cat(outs, 2)
end

TestDecodeModules = {}

function TestDecodeModules:test_whole_sequence_equals_chunks_through_the_cache()
  local x = lunet.randn { 2, 9, 32 }
  for _, case in ipairs(modules()) do
    local m = case[2]
    lunet.no_grad(function()
      local full = m(x, nil, { causal = true })
      for _, chunks in ipairs { { 4, 3, 2 }, { 5, 4 }, { 1, 1, 7 } } do
        local got = chunked(m, x, chunks, nil, true, m:new_cache())
        assert_within(got, full, TOL, case[1] .. " chunks " .. table.concat(chunks, ","))
      end
    end)
  end
end

-- a padding mask over cached + new keys; the second sequence's first
-- three keys are masked, so its first three queries see no key at all
-- (zero weights in the fused op; uniform over -1e9 in the gated module)
function TestDecodeModules:test_padding_mask_through_the_cache()
  local x = lunet.randn { 2, 9, 32 }
  local mask = lunet.ones { 2, 9 }
  for _, s in ipairs { 1, 2, 3 } do mask:set({ 2, s }, 0) end
  mask:set({ 1, 5 }, 0)
  for _, case in ipairs(modules()) do
    local m = case[2]
    lunet.no_grad(function()
      local full = m(x, mask, { causal = true })
      local got = chunked(m, x, { 2, 4, 3 }, mask, true, m:new_cache())
      assert_within(got, full, TOL, case[1] .. " causal, masked")
      -- without causal masking each chunk sees every key so far: the last
      -- chunk sees them all, as the whole sequence does
      full = m(x, mask, nil)
      got = chunked(m, x, { 6, 3 }, mask, false, m:new_cache())
      assert_within(got:narrow(2, 7, 3), full:narrow(2, 7, 3), TOL, case[1] .. " not causal, masked")
    end)
  end
end

-- MLA's cache holds c_kv = down_proj_kv(h) and k_r = rope(proj_kr(h)) at
-- the right positions, nothing projected up
function TestDecodeModules:test_mla_cache_contents()
  lunet.manual_seed(6)
  local m = nn.MultiHeadLatentAttention { hidden_size = 32, down_dim = 12, up_dim = 16, num_heads = 4,
                                          rope_head_dim = 4 }
  local h = lunet.randn { 2, 7, 32 }
  lunet.no_grad(function()
    local cache = m:new_cache()
    chunked(m, h, { 3, 4 }, nil, true, cache)
    local kv = cache:view("kv")                                         -- {2,1,7,16}
    assert_within(kv:narrow(4, 1, 12):select(2, 1), m.down_proj_kv(h), 1e-6, "c_kv")
    local k_r = m.rope_k(m.proj_kr(h):unsqueeze(2))                     -- {2,1,7,4}
    assert_within(kv:narrow(4, 13, 4), k_r, 1e-6, "k_r")
  end)
end

function TestDecodeModules:test_block_cache_and_errors()
  lunet.manual_seed(4)
  local block = nn.TransformerBlock { 32, 4, attention = "mla", down_dim = 12, up_dim = 16, rope_head_dim = 4 }
  local x = lunet.randn { 1, 6, 32 }
  lunet.no_grad(function()
    local full = block(x, nil, { causal = true })
    assert_within(chunked(block, x, { 3, 3 }, nil, true, block:new_cache()), full, TOL, "block")
  end)
  local mha = nn.MultiHeadAttention { 32, 4 }
  local cache = mha:new_cache()
  lunet.no_grad(function() mha(lunet.randn { 1, 4, 32 }, nil, { causal = true, cache = cache }) end)
  H.raises("MultiHeadAttention: mask has shape {1,2}, expected {1,6} (batch, cached + new positions)",
           function() mha(lunet.randn { 1, 2, 32 }, lunet.ones { 1, 2 }, { cache = cache }) end)
  lu.assertEquals(cache.length, 4)
  lu.assertStrContains(tostring(cache), "KVCache(MultiHeadAttention: k 4x8, v 4x8; length 4, 64 floats per token)")
end

-- with grad on, the new positions' outputs still carry gradients to the
-- parameters (the cache itself keeps data only)
function TestDecodeModules:test_cache_under_grad_mode()
  lunet.manual_seed(5)
  local m = nn.MultiHeadLatentAttention { hidden_size = 32, down_dim = 12, up_dim = 16, num_heads = 4, rope_head_dim = 4 }
  local cache = m:new_cache()
  local x = lunet.randn { 1, 5, 32 }
  m(x:narrow(2, 1, 4), nil, { causal = true, cache = cache })
  local y = m(x:narrow(2, 5, 1), nil, { causal = true, cache = cache })
  y:sum():backward()
  lu.assertNotNil(m.up_proj_k.weight.grad)
  lu.assertNotNil(m.up_proj_v.weight.grad)
end
