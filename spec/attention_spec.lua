-- Fused scaled-dot-product attention: lunet.attention against the same
-- computation composed from lunet's own ops (matmul, transpose,
-- masked_fill, softmax, expand), forward and gradients, for every head
-- layout (MHA, GQA, MQA), memory layout, mask and option; plus gradcheck,
-- the all-masked-row rule, dropout, and every error.
local lu = require "luaunit"
local lunet = require "lunet"
local H = require "helpers"

-- {B,1,S,T} (or broadcastable): 1 where query s may not see key t,
-- built from lunet's own comparisons
local function hidden(B, S, T, mask, causal)
  local h = lunet.zeros{1, 1, 1, 1}
  if mask then h = mask:eq(0):view{B, 1, 1, T} end
  if causal then
    local late = lunet.arange(T):view{1, 1, 1, T}:gt(lunet.arange(S):view{1, 1, S, 1} + (T - S))
    h = h:maximum(late)
  end
  return h
end

-- the seeds' computation, with k/v expanded to every query head
local function reference(q, k, v, o)
  o = o or {}
  local B, Hq, S, D = table.unpack(q:shape())
  local Hk, T, Dv = k:shape()[2], k:shape()[3], v:shape()[4]
  local G = Hq // Hk
  if G > 1 then
    k = k:unsqueeze(3):expand{B, Hk, G, T, D}:reshape{B, Hq, T, D}
    v = v:unsqueeze(3):expand{B, Hk, G, T, Dv}:reshape{B, Hq, T, Dv}
  end
  local scale = (o.scale and o.scale > 0) and o.scale or 1 / math.sqrt(D)
  local s = q:matmul(k:transpose(3, 4)) * scale
  if o.mask or o.causal then
    s = s:masked_fill(hidden(B, S, T, o.mask, o.causal), -math.huge)
  end
  return s:softmax(-1):matmul(v)
end

-- q {B,H,S,D}, k {B,Hk,T,D}, v {B,Hk,T,Dv} leaves; "transposed" makes each
-- the usual x:view{B,S,H,D}:transpose(2,3) layout (a non-contiguous leaf)
local function inputs(c)
  local function make(b, h, n, d)
    if c.transposed then
      return lunet.randn{b, n, h, d}:transpose(2, 3):detach():requires_grad(true)
    end
    return lunet.randn{b, h, n, d}:requires_grad(true)
  end
  return make(c.B, c.H, c.S, c.D), make(c.B, c.Hk, c.T, c.D), make(c.B, c.Hk, c.T, c.Dv or c.D)
end

local function grads(out, w, ...)
  local ts = {...}
  for _, t in ipairs(ts) do t.grad = nil end
  out:backward(w)
  local g = {}
  for i, t in ipairs(ts) do g[i] = t.grad end
  return g
end

-- forward and q/k/v gradients agree with the reference; then gradcheck
local function check(c, opts)
  lunet.manual_seed(c.seed or 7)
  local q, k, v = inputs(c)
  if c.transposed then lu.assertFalse(q:is_contiguous()) end
  local out = lunet.attention(q, k, v, opts)
  lu.assertEquals(out:shape(), {c.B, c.H, c.S, c.Dv or c.D})
  local ref = reference(q, k, v, opts)
  H.assert_close(out, ref, 1e-5, "forward")
  local w = lunet.randn(out:shape())
  local ga = grads(out, w, q, k, v)
  local gr = grads(ref, w, q, k, v)
  for i, name in ipairs{"dq", "dk", "dv"} do
    H.assert_close(ga[i], gr[i], 1e-4, name)
  end
  if not c.no_gradcheck then
    H.gradcheck(function(a, b, d) return lunet.attention(a, b, d, opts) end, {q, k, v})
  end
end

TestAttention = {}

function TestAttention:test_mha()
  check{B = 2, H = 3, Hk = 3, S = 4, T = 4, D = 5}
end

function TestAttention:test_gqa()
  check{B = 2, H = 4, Hk = 2, S = 3, T = 3, D = 4}
end

function TestAttention:test_mqa()
  check{B = 2, H = 4, Hk = 1, S = 3, T = 3, D = 4}
end

function TestAttention:test_transposed_inputs()
  check{B = 2, H = 4, Hk = 2, S = 3, T = 3, D = 4, transposed = true}
  check{B = 1, H = 2, Hk = 1, S = 4, T = 4, D = 3, transposed = true}
end

function TestAttention:test_seq_10_like_the_seeds()
  -- the seeds' shapes (hidden 256, 8 heads, head dim 32, seq 10), no gradcheck
  check{B = 2, H = 8, Hk = 8, S = 10, T = 10, D = 32, transposed = true, no_gradcheck = true}
  check{B = 2, H = 8, Hk = 4, S = 10, T = 10, D = 32, transposed = true, no_gradcheck = true}
  check{B = 2, H = 8, Hk = 1, S = 10, T = 10, D = 32, transposed = true, no_gradcheck = true}
end

function TestAttention:test_padding_mask()
  local mask = lunet.tensor{{1, 1, 1, 0, 0}, {1, 1, 1, 1, 0}}
  check({B = 2, H = 2, Hk = 2, S = 5, T = 5, D = 3}, {mask = mask})
  check({B = 2, H = 4, Hk = 2, S = 5, T = 5, D = 3, transposed = true}, {mask = mask})
end

function TestAttention:test_mask_any_nonzero_keeps()
  -- "nonzero keeps", and a non-contiguous mask is read through its strides
  local m1 = lunet.tensor{{2, 0.5, 0, -1}, {0, 1, 1, 1}}
  local m2 = lunet.tensor{{1, 1, 0, 1}, {0, 1, 1, 1}}
  local mt = lunet.tensor{{1, 0}, {1, 1}, {0, 1}, {1, 1}}:t()
  local q, k, v = lunet.randn{2, 2, 3, 4}, lunet.randn{2, 2, 4, 4}, lunet.randn{2, 2, 4, 4}
  local want = lunet.attention(q, k, v, {mask = m2})
  H.assert_close(lunet.attention(q, k, v, {mask = m1}), want, 1e-6)
  H.assert_close(lunet.attention(q, k, v, {mask = mt}), want, 1e-6)
  H.assert_close(lunet.attention(q, k, v, {mask = {{1, 1, 0, 1}, {0, 1, 1, 1}}}), want, 1e-6)
end

function TestAttention:test_causal()
  check({B = 2, H = 2, Hk = 2, S = 4, T = 4, D = 3}, {causal = true})
  check({B = 1, H = 4, Hk = 2, S = 5, T = 5, D = 3, transposed = true}, {causal = true})
end

function TestAttention:test_causal_decoding()
  -- one new query against a cache of 7 keys sees all 7; three see 5, 6, 7
  check({B = 2, H = 2, Hk = 1, S = 1, T = 7, D = 4}, {causal = true})
  check({B = 1, H = 2, Hk = 2, S = 3, T = 7, D = 4}, {causal = true})
  local q, k, v = lunet.randn{1, 1, 1, 4}, lunet.randn{1, 1, 7, 4}, lunet.randn{1, 1, 7, 4}
  H.assert_close(lunet.attention(q, k, v, {causal = true}), lunet.attention(q, k, v), 1e-6)
end

function TestAttention:test_causal_with_mask()
  local mask = lunet.tensor{{0, 1, 1, 1, 1, 1}, {1, 1, 1, 1, 0, 0}}
  check({B = 2, H = 2, Hk = 1, S = 4, T = 6, D = 3}, {causal = true, mask = mask})
end

function TestAttention:test_mla_head_dims()
  -- MLA: q/k head dim 42 (content 16 + rope 26), v head dim 16
  check{B = 1, H = 2, Hk = 2, S = 3, T = 3, D = 42, Dv = 16}
  check{B = 2, H = 8, Hk = 8, S = 10, T = 10, D = 42, Dv = 16, transposed = true,
        no_gradcheck = true}
end

function TestAttention:test_custom_scale()
  check({B = 1, H = 2, Hk = 1, S = 3, T = 4, D = 4}, {scale = 0.7})
  -- scale <= 0 means 1/sqrt(D)
  local q, k, v = lunet.randn{1, 2, 3, 4}, lunet.randn{1, 2, 3, 4}, lunet.randn{1, 2, 3, 4}
  H.assert_close(lunet.attention(q, k, v, {scale = 0}), lunet.attention(q, k, v, {scale = 0.5}), 1e-6)
  H.assert_close(lunet.attention(q, k, v, {scale = -1}), lunet.attention(q, k, v), 1e-6)
end

function TestAttention:test_expanded_and_odd_layouts()
  -- k/v broadcast over heads (stride 0), q with unit stride on rows (copied)
  local q = lunet.randn{1, 2, 4, 3}:transpose(3, 4)          -- {1,2,3,4}
  local k = lunet.randn{1, 1, 5, 4}:expand{1, 2, 5, 4}
  local v = lunet.randn{1, 5, 1, 3}:transpose(2, 3):expand{1, 2, 5, 3}
  H.assert_close(lunet.attention(q, k, v), reference(q, k, v), 1e-5)
  local qq, kk, vv = H.leaf(q), H.leaf(lunet.randn{1, 1, 5, 4}), H.leaf(lunet.randn{1, 1, 5, 3})
  H.gradcheck(function(a, b, c)
    return lunet.attention(a, b:expand{1, 2, 5, 4}, c:expand{1, 2, 5, 3})
  end, {qq, kk, vv})
end

function TestAttention:test_padded_suffix_is_skipped()
  -- keys after a batch's last kept one are skipped: same values, same gradients
  local mask = lunet.tensor{{1, 1, 0, 1, 0, 0}, {1, 0, 0, 0, 0, 0}, {1, 1, 1, 1, 1, 1}}
  for _, causal in ipairs{false, true} do
    local q, k, v = H.leaf(lunet.randn{3, 2, 6, 4}), H.leaf(lunet.randn{3, 1, 6, 4}),
                    H.leaf(lunet.randn{3, 1, 6, 3})
    local o = {mask = mask, causal = causal}
    H.assert_close(lunet.attention(q, k, v, o), reference(q, k, v, o), 1e-5)
    H.gradcheck(function(a, b, c) return lunet.attention(a, b, c, o) end, {q, k, v})
  end
end

function TestAttention:test_fully_masked_row_is_zero()
  -- batch 2 masks every key: PyTorch gives NaN there, lunet zeros
  local mask = lunet.tensor{{1, 0, 1, 1}, {0, 0, 0, 0}}
  local q = lunet.randn{2, 2, 3, 4}:requires_grad(true)
  local k = lunet.randn{2, 1, 4, 4}:requires_grad(true)
  local v = lunet.randn{2, 1, 4, 4}:requires_grad(true)
  local out = lunet.attention(q, k, v, {mask = mask})
  local t = out:totable()
  for h = 1, 2 do
    for s = 1, 3 do
      for d = 1, 4 do lu.assertEquals(t[2][h][s][d], 0) end
    end
  end
  H.assert_close(out:narrow(1, 1, 1),
                 reference(q:narrow(1, 1, 1), k:narrow(1, 1, 1), v:narrow(1, 1, 1),
                           {mask = mask:narrow(1, 1, 1)}), 1e-5)
  out:backward(lunet.randn(out:shape()))
  for _, x in ipairs{q, k, v} do
    for _, e in ipairs(x.grad:flatten(1, -1):totable()) do
      lu.assertTrue(e == e and math.abs(e) < math.huge, "finite gradient")
    end
    H.assert_close(x.grad:narrow(1, 2, 1), lunet.zeros{1, table.unpack(x:shape(), 2)}, 0)
  end
  H.gradcheck(function(a, b, c) return lunet.attention(a, b, c, {mask = mask}) end,
              {H.leaf(q), H.leaf(k), H.leaf(v)})
end

function TestAttention:test_causal_more_queries_than_keys()
  -- S > T: the first S - T queries see no key at all and get zeros
  local q, k, v = lunet.randn{1, 1, 4, 2}, lunet.randn{1, 1, 2, 2}, lunet.randn{1, 1, 2, 2}
  local out = lunet.attention(q, k, v, {causal = true}):totable()[1][1]
  lu.assertEquals(out[1], {0, 0})
  lu.assertEquals(out[2], {0, 0})
  H.assert_close(out[4], lunet.attention(q:narrow(3, 4, 1), k, v):totable()[1][1][1], 1e-6)
end

function TestAttention:test_empty_sizes()
  local q = lunet.randn{2, 2, 3, 4}
  local out = lunet.attention(q, lunet.zeros{2, 2, 0, 4}, lunet.zeros{2, 2, 0, 5})
  H.assert_close(out, lunet.zeros{2, 2, 3, 5}, 0)
  lu.assertEquals(lunet.attention(lunet.zeros{2, 2, 0, 4}, lunet.randn{2, 2, 3, 4},
                                  lunet.randn{2, 2, 3, 4}):shape(), {2, 2, 0, 4})
  lu.assertEquals(lunet.attention(lunet.zeros{0, 2, 3, 4}, lunet.randn{0, 1, 3, 4},
                                  lunet.randn{0, 1, 3, 4}):shape(), {0, 2, 3, 4})
end

function TestAttention:test_long_rows_span_tiles()
  -- enough keys that a tile holds fewer rows than S: 20000 keys give
  -- tiles of 26 rows, so 60 queries make tiles of 26, 26 and 8
  local c = {B = 1, H = 2, Hk = 1, S = 60, T = 20000, D = 4}
  local q, k, v = inputs(c)
  local mask = lunet.ones{1, c.T}
  for t = 1, c.T, 7 do mask:set({1, t}, 0) end
  for _, o in ipairs{{}, {causal = true}, {causal = true, mask = mask}} do
    local out = lunet.attention(q, k, v, o)
    local ref = reference(q, k, v, o)
    H.assert_close(out, ref, 1e-5, "forward")
    local w = lunet.randn(out:shape())
    local ga, gr = grads(out, w, q, k, v), grads(ref, w, q, k, v)
    for i = 1, 3 do H.assert_close(ga[i], gr[i], 1e-4, "grad " .. i) end
  end
  -- causal S = T = 1200: tiles of 436 rows, each stopping at its last visible key
  c = {B = 1, H = 1, Hk = 1, S = 1200, T = 1200, D = 4}
  q, k, v = inputs(c)
  local out = lunet.attention(q, k, v, {causal = true})
  local ref = reference(q, k, v, {causal = true})
  H.assert_close(out, ref, 1e-5, "forward")
  local w = lunet.randn(out:shape())
  local ga, gr = grads(out, w, q, k, v), grads(ref, w, q, k, v)
  for i = 1, 3 do H.assert_close(ga[i], gr[i], 1e-4, "grad " .. i) end
end

function TestAttention:test_some_inputs_need_grad()
  -- each of q, k, v alone requiring grad; and a broadcast (stride 0) output grad
  local mask = lunet.tensor{{1, 1, 0, 1, 1}, {1, 1, 1, 1, 1}}
  for which = 1, 3 do
    local t = {lunet.randn{2, 4, 3, 4}, lunet.randn{2, 2, 5, 4}, lunet.randn{2, 2, 5, 6}}
    t[which]:requires_grad(true)
    local o = {mask = mask, causal = true}
    lunet.attention(t[1], t[2], t[3], o):sum():backward()
    local got = t[which].grad
    t[which].grad = nil
    reference(t[1], t[2], t[3], o):sum():backward()
    H.assert_close(got, t[which].grad, 1e-4, "input " .. which)
  end
end

function TestAttention:test_zero_heads()
  local q = lunet.zeros{2, 0, 3, 4}:requires_grad(true)
  local k = lunet.zeros{2, 0, 3, 4}:requires_grad(true)
  local out = lunet.attention(q, k, k)
  lu.assertEquals(out:shape(), {2, 0, 3, 4})
  out:backward(lunet.zeros{2, 0, 3, 4})
  lu.assertEquals(q.grad:shape(), {2, 0, 3, 4})
end

function TestAttention:test_no_grad()
  local q = lunet.randn{1, 2, 3, 4}:requires_grad(true)
  local k, v = lunet.randn{1, 2, 3, 4}, lunet.randn{1, 2, 3, 4}
  local out = lunet.no_grad(function() return lunet.attention(q, k, v) end)
  lu.assertFalse(out:requires_grad())
  lu.assertTrue(lunet.attention(q, k, v):requires_grad())
  lu.assertFalse(lunet.attention(k, k, v):requires_grad())
end

-- with v the identity, each output row IS the (dropped) weight row
local function weights_with_dropout(p, S, T)
  local q = lunet.zeros{1, 1, S, 4}                     -- uniform weights 1/T
  local k = lunet.randn{1, 1, T, 4}
  local v = lunet.eye(T):view{1, 1, T, T}
  return lunet.attention(q, k, v, {dropout = p})
end

function TestAttention:test_dropout_statistics()
  local p, S, T = 0.3, 100, 200
  lunet.manual_seed(1)
  local w = weights_with_dropout(p, S, T):flatten(1, -1):totable()
  local zeros, kept = 0, 1 / (T * (1 - p))
  for _, e in ipairs(w) do
    if e == 0 then zeros = zeros + 1
    else lu.assertAlmostEquals(e, kept, 1e-6) end
  end
  lu.assertAlmostEquals(zeros / #w, p, 0.015)   -- 20000 draws: sd 0.0032
  -- no visible pattern along keys or across rows: each column and row is hit
  local dropped = lunet.tensor(w):view{S, T}:eq(0)
  for _, r in ipairs(dropped:sum(2):totable()) do lu.assertTrue(r > 30 and r < 90) end
  for _, c in ipairs(dropped:sum(1):totable()) do lu.assertTrue(c > 10 and c < 50) end
end

function TestAttention:test_dropout_reproducible()
  local q, k, v = lunet.randn{2, 2, 5, 4}, lunet.randn{2, 1, 5, 4}, lunet.randn{2, 1, 5, 4}
  lunet.manual_seed(42)
  local a = lunet.attention(q, k, v, {dropout = 0.5})
  local b = lunet.attention(q, k, v, {dropout = 0.5})
  lunet.manual_seed(42)
  local c = lunet.attention(q, k, v, {dropout = 0.5})
  lu.assertEquals(a:totable(), c:totable())
  lu.assertNotEquals(a:totable(), b:totable())
  lu.assertNotEquals(a:totable(), lunet.attention(q, k, v):totable())
  H.assert_close(lunet.attention(q, k, v, {dropout = 0}), lunet.attention(q, k, v), 0)
end

function TestAttention:test_dropout_expectation()
  -- E[dropout(P)] = P: the mean of many draws approaches the plain output
  local q, k, v = lunet.randn{1, 2, 3, 4}, lunet.randn{1, 2, 6, 4}, lunet.randn{1, 2, 6, 4}
  local acc = lunet.zeros{1, 2, 3, 4}
  lunet.manual_seed(3)
  local n = 2000
  for _ = 1, n do acc = acc + lunet.attention(q, k, v, {dropout = 0.25}) end
  H.assert_close(acc / n, lunet.attention(q, k, v), 0.06)
end

function TestAttention:test_dropout_gradcheck()
  -- the same seed before every call gives the same keep pattern
  for _, o in ipairs{{dropout = 0.4}, {dropout = 0.4, causal = true,
                      mask = lunet.tensor{{1, 1, 0, 1}, {1, 1, 1, 1}}}} do
    local q = lunet.randn{2, 3, 4, 2}:transpose(2, 3):detach():requires_grad(true)
    local k = H.leaf(lunet.randn{2, 1, 4, 2})
    local v = H.leaf(lunet.randn{2, 1, 4, 3})
    H.gradcheck(function(a, b, c)
      lunet.manual_seed(99)
      return lunet.attention(a, b, c, o)
    end, {q, k, v})
  end
end

function TestAttention:test_errors()
  local q, k, v = lunet.randn{2, 8, 10, 32}, lunet.randn{2, 3, 10, 32}, lunet.randn{2, 3, 10, 32}
  local function err(msg, ...) H.raises(msg, lunet.attention, ...) end
  err("attention: q {2,8,10,32} and k {2,3,10,32}: 8 heads not divisible by 3 kv heads", q, k, v)
  err("attention: q {2,8,10,32} and k {2,0,10,32}: 8 heads not divisible by 0 kv heads",
      q, lunet.zeros{2, 0, 10, 32}, lunet.zeros{2, 0, 10, 32})
  err("attention: q and k head dims differ (32 ~= 16)",
      q, lunet.randn{2, 4, 10, 16}, lunet.randn{2, 4, 10, 32})
  local k4, v4 = lunet.randn{2, 4, 10, 32}, lunet.randn{2, 4, 10, 32}
  err("attention: mask {2,9} does not match batch 2 and 10 keys", q, k4, v4,
      {mask = lunet.ones{2, 9}})
  err("attention: mask {10} does not match batch 2 and 10 keys", q, k4, v4,
      {mask = lunet.ones{10}})
  err("attention: expected 4-d q, k, v, got 3-d q {2,10,256}", lunet.randn{2, 10, 256}, k4, v4)
  err("attention: expected 4-d q, k, v, got 2-d k {10,32}", q, lunet.randn{10, 32}, v4)
  err("attention: expected 4-d q, k, v, got 5-d v {1,2,4,10,32}", q, k4, lunet.randn{1, 2, 4, 10, 32})
  err("attention: k {2,4,10,32} and v {2,4,9,32} differ in batch, heads or length",
      q, k4, lunet.randn{2, 4, 9, 32})
  err("attention: k {2,4,10,32} and v {2,2,10,32} differ in batch, heads or length",
      q, k4, lunet.randn{2, 2, 10, 32})
  err("attention: q {2,8,10,32} and k {1,4,10,32} differ in batch (2 ~= 1)",
      q, lunet.randn{1, 4, 10, 32}, lunet.randn{1, 4, 10, 32})
  err("attention: dropout probability must be in [0, 1), got 1", q, k4, v4, {dropout = 1})
  err("attention: dropout probability must be in [0, 1), got -0.5", q, k4, v4, {dropout = -0.5})
  err("attention: dropout probability must be in [0, 1), got nan", q, k4, v4, {dropout = 0 / 0})
  err("attention: scale must be finite, got inf", q, k4, v4, {scale = math.huge})
end

-- The seed 000 (gated) rules: a per-head bias added to the scores, and
-- masked keys filled with -1e9, so a query whose keys are all masked
-- attends to its visible keys equally; future keys stay -inf
local function reference_gated(q, k, v, bias, mask, causal)
  local B, H, S, D = table.unpack(q:shape())
  local T = k:size(3)
  local s = q:matmul(k:transpose(3, 4)) / math.sqrt(D) + bias
  s = s:masked_fill(mask:eq(0):view{B, 1, 1, T}, -1e9)
  if causal then s = s:masked_fill(hidden(B, S, T, nil, true), -math.huge) end
  return s:softmax(-1):matmul(v)
end

function TestAttention:test_bias_and_uniform_rows()
  -- batch 2 masks every key: its queries weigh their visible keys equally
  local mask = lunet.tensor{{1, 0, 1, 1, 0}, {0, 0, 0, 0, 0}}
  for _, causal in ipairs{false, true} do
    local q, k, v = H.leaf(lunet.randn{2, 3, 5, 4}), H.leaf(lunet.randn{2, 3, 5, 4}),
                    H.leaf(lunet.randn{2, 3, 5, 2})
    local bias = H.leaf(lunet.randn{3, 1, 1})
    local function f(a, b, c, d)
      return lunet.attention(a, b, c, {mask = mask, bias = d, all_masked = "uniform", causal = causal})
    end
    H.assert_close(f(q, k, v, bias), reference_gated(q, k, v, bias, mask, causal), 1e-5)
    local w = lunet.randn{2, 3, 5, 2}
    local loss = (f(q, k, v, bias) * w):sum()
    loss:backward()
    local g1 = {q.grad, k.grad, v.grad, bias.grad}
    for _, x in ipairs{q, k, v, bias} do x.grad = nil end
    loss = (reference_gated(q, k, v, bias, mask, causal) * w):sum()
    loss:backward()
    local g2 = {q.grad, k.grad, v.grad, bias.grad}
    for i = 1, 4 do H.assert_close(g1[i], g2[i], 1e-4) end
    lu.assertTrue(g1[4]:abs():max():item() < 1e-5)   -- softmax ignores a shift
    for _, x in ipairs{q, k, v, bias} do x.grad = nil end
    H.gradcheck(f, {q, k, v, bias})
  end
end

function TestAttention:test_option_errors()
  local q = lunet.randn{1, 2, 3, 4}
  local function err(msg, o) H.raises(msg, lunet.attention, q, q, q, o) end
  err("attention: options must be a table, got number", 3)
  err("attention: option mask must be a tensor, got string", {mask = "yes"})
  err("attention: option causal must be a boolean, got number", {causal = 1})
  err("attention: option scale must be a number, got string", {scale = "1"})
  err("attention: option dropout must be a number, got boolean", {dropout = true})
  err("attention: unknown option 'casual' (did you mean 'causal'?)", {casual = true})
  err("attention: unknown option 'drop' (did you mean 'dropout'?)", {drop = 0.1})
  err("attention: unknown option '1' (known options: all_masked, bias, causal, dropout, mask,"
      .. " scale)", {true})
  err("attention: option bias must be a tensor, got number", {bias = 1})
  err("attention: bias {3} must hold one value per query head (2)", {bias = lunet.zeros{3}})
  err("attention: option all_masked must be 'zero' or 'uniform', got 'even'", {all_masked = "even"})
  err("attention: option all_masked must be 'zero' or 'uniform', got boolean", {all_masked = true})
  H.raises("attention", lunet.attention, q, q)
  H.raises("attention", lunet.attention, q, q, "v")
end
