-- nn.GatedLatentAttention{d_model, num_heads, latent_rank=d_model/num_heads}
-- (alias nn.GatedAttention): seed 000's module (which the seed calls
-- MultiHeadLatentAttention).
--
--   k = V_k(U_k(x) per head)   low-rank keys:   d_model -> H*latent_rank -> head_dim
--   v = V_v(U_v(x) per head)   low-rank values: likewise
--   q = W_q(x) per head
--   scores = q k^T / sqrt(head_dim) + latent_bias[h]   (a learned bias per head)
--   weights = softmax(scores), masked keys filled with -1e9 first
--   gate = softmax over heads of gate(x)                {B,S,H}
--   out = out_proj(concat over heads of gate[h] * (weights v)[h])
--
-- The fix: the seed multiplies each head's output by its gate and then
-- sums over the heads, leaving {B,S,head_dim}, which its reshape to
-- d_model cannot accept (the RuntimeError shown in the seed).  Here each
-- head's output is scaled by its gate and the heads are concatenated back
-- to d_model before out_proj, which is what its out_proj(d_model,
-- d_model) expects.
--
-- The latent bias is part of the scores, so this module composes the
-- explicit ops (matmul, +, masked_fill, softmax, matmul) rather than the
-- fused attention.  A key masked out is filled with -1e9 as in the seed:
-- a query whose keys are all masked therefore attends uniformly to all of
-- them (no NaN).  A future key (causal, lunet's addition) is filled with
-- -inf instead, so it gets weight 0 even then: with -1e9 a query whose
-- visible keys are all padding would attend uniformly to every key,
-- future ones included -- a leak, and a result that decoding with a KV
-- cache (which has no future keys) could not reproduce.
local lunet = require "lunet"
local Module = require "lunet.nn.module"
local Linear = require "lunet.nn.linear"
local heads = require "lunet.nn.heads"

local GatedLatentAttention = Module:extend("GatedLatentAttention", {
  "d_model", "num_heads", "latent_rank", latent_rank = Module.AUTO,
})

-- m.output_attentions = true: each forward keeps its attention weights
-- {B,H,S,T} (detached) in m.attention_weights, for attention maps
GatedLatentAttention.output_attentions = false

-- The width rule: latent_rank defaults to head_dim = d_model / num_heads
-- (the seed's 32 at 256/8), the widest latent that still costs no more to
-- cache than k and v.
function GatedLatentAttention.default_sizes(d_model, num_heads)
  return { latent_rank = math.max(1, d_model // num_heads) }
end

-- the sizes, checked, without building anything (see MultiHeadAttention:configure)
function GatedLatentAttention:configure(o)
  self:check_positive(o, "d_model", "num_heads")
  if o.d_model % o.num_heads ~= 0 then
    self:fail("d_model %d is not divisible by num_heads %d", o.d_model, o.num_heads)
  end
  local r = o.latent_rank or self.default_sizes(o.d_model, o.num_heads).latent_rank
  self:check_positive({ latent_rank = r }, "latent_rank")
  self.d_model, self.num_heads, self.latent_rank, self.head_dim = o.d_model, o.num_heads, r,
                                                                  o.d_model // o.num_heads
end

-- what cannot work well
function GatedLatentAttention:size_warnings()
  return heads.width_warnings(self.head_dim, "head_dim", self.latent_rank, "latent_rank", self.head_dim,
                              "head_dim")
end

function GatedLatentAttention:init(o)
  self:configure(o)
  heads.warn(self)
  local d, H, r = self.d_model, self.num_heads, self.latent_rank
  -- low-rank key and value factors
  self.U_k = Linear { d, r * H, bias = false }
  self.V_k = Linear { r, self.head_dim, bias = false }
  self.U_v = Linear { d, r * H, bias = false }
  self.V_v = Linear { r, self.head_dim, bias = false }
  self.W_q = Linear { d, d, bias = false }
  -- the gate over heads, the per-head latent bias, the output projection
  self.gate = Linear(d, H)
  self.latent_bias = Module.Parameter(lunet.zeros { H, 1, 1 })
  self.out_proj = Linear(d, d)
end

-- {B, S, H*r} -> {B, H, S, r}: each head's latent
local function latent_heads(self, latent)
  local B, S = latent:size(1), latent:size(2)
  return latent:view { B, S, self.num_heads, self.latent_rank }:transpose(2, 3)
end

-- x {B, S, d_model}; mask nil or {B, S} (1 keep, 0 masked);
-- opts {causal=true}, and cache= a cache from new_cache() to decode: x
-- holds the next S positions, appended to the cache, and attends over all
-- cached ones (the mask, if any, is then {B, cached + S}).
-- Returns {B, S, d_model}.
function GatedLatentAttention:forward(x, mask, opts)
  heads.check_input(self, x, self.d_model, "d_model")
  local B, S, H = x:size(1), x:size(2), self.num_heads
  local cache = heads.cache(self, opts)
  local T = S + (cache and cache.length or 0)
  heads.check_mask(self, mask, B, T, cache)
  local causal = heads.causal(self, opts)
  -- 1. low-rank latents {B,H,S,r}; queries {B,H,S,head_dim}
  local k_lat = latent_heads(self, self.U_k(x))
  local v_lat = latent_heads(self, self.U_v(x))
  local q = heads.split(self.W_q(x), H)
  local k, v
  if cache and cache.latent then
    -- decoding from cached latents, V_k folded into the query: q . (V_k l)
    -- = (V_k^T q) . l, and V_v applied after the weighted sum (see new_cache)
    k, v = cache:append(k_lat, v_lat)                     -- {B,H,T,r}
    q = q:matmul(self.V_k.weight)                          -- {B,H,S,r}
  else
    -- low-rank keys and values {B,H,S,head_dim} (V acts on each head's latent)
    k, v = self.V_k(k_lat), self.V_v(v_lat)
    if cache then k, v = cache:append(k, v) end           -- {B,H,T,head_dim}
  end
  -- 2. scores with the per-head latent bias: {B,H,S,T}
  local scores = q:matmul(k:transpose(-2, -1)) / math.sqrt(self.head_dim)
  scores = scores + self.latent_bias
  if mask ~= nil then
    scores = scores:masked_fill(mask:eq(0):view { B, 1, 1, T }, -1e9)
  end
  if causal then   -- key j is in query i's future when j > i + T - S (0-based)
    local future = lunet.arange(S):view { S, 1 }:lt(lunet.arange(T):view { 1, T } - (T - S))
    scores = scores:masked_fill(future, -math.huge)
  end
  -- 3. attend: {B,H,S,head_dim}
  local probs = scores:softmax(-1)
  if self.output_attentions then self.attention_weights = probs:detach() end
  local context = probs:matmul(v)
  if cache and cache.latent then context = self.V_v(context) end
  -- 4. gate each head by a softmax over heads of gate(x): {B,S,H} -> {B,H,S,1}
  local gate = self.gate(x):softmax(-1):permute { 1, 3, 2 }:unsqueeze(4)
  -- 5. the fix: concatenate the gated heads back to d_model, then project
  return self.out_proj(heads.merge(context * gate))
end

-- A KV cache for decoding (see heads.lua).  The seed's advice is to cache
-- the latents k_latent and v_latent (H*latent_rank floats each per
-- position); k and v themselves cost H*head_dim each.  The cache keeps
-- whichever is smaller (the latents when latent_rank < head_dim), so
-- floats_per_token() is kv_floats_per_token().  From latents, decoding
-- folds V_k into the query and applies V_v after the weighted sum (both
-- are linear and bias-free, and the -1e9 masking keeps every weight row
-- summing to 1), so no cached latent is ever projected up again.
-- opts {capacity=N} preallocates N positions.
function GatedLatentAttention:new_cache(opts)
  local latent = self.latent_rank < self.head_dim
  local w = latent and self.latent_rank or self.head_dim
  local c = heads.new_cache(self, { { latent and "k_latent" or "k", self.num_heads, w },
                                    { latent and "v_latent" or "v", self.num_heads, w } }, opts)
  c.latent = latent
  return c
end

-- ---------------------------------------------------------------- costs

-- The analytic cost of one forward/backward on B sequences of S tokens
-- (see MultiHeadAttention:costs and lunet/profile_formulas.lua).  o.mask:
-- a padding mask is given.  The attention here is explicit ops, so it
-- shows in forward_flops, not attention_flops (the fused op's share).
function GatedLatentAttention:costs(B, S, o)
  local F = require "lunet.profile_formulas"
  o = o or {}
  local c, M, H, r = F.new(), B * S, self.num_heads, self.latent_rank
  local d, hd, xg = self.d_model, self.head_dim, o.grad_input ~= false
  local P = B * H * S * S                       -- (query, key) pairs
  F.linear(c, M, d, r * H, false, xg)           -- U_k
  F.linear(c, M * H, r, hd, false, true)        -- V_k, on each head's latent
  F.linear(c, M, d, r * H, false, xg)           -- U_v
  F.linear(c, M * H, r, hd, false, true)        -- V_v
  F.linear(c, M, d, d, false, xg)               -- W_q
  F.matmul(c, B * H, S, hd, S)                  -- q k^T
  F.elementwise(c, P, 1, 1)                     -- / sqrt(head_dim)
  F.kept(c, 1)                                  -- (that divisor, kept as a tensor)
  F.params(c, H)                                -- latent_bias
  F.elementwise(c, P, 1, 0)                     -- + latent_bias
  if o.mask then
    F.elementwise(c, B * S, 1, 0)               -- mask == 0
    F.elementwise(c, P, 1, 1)                   -- masked_fill
  end
  if o.causal then
    F.elementwise(c, S, 1, 0, false)            -- key positions - (T - S)
    F.elementwise(c, S * S, 1, 0)               -- key > query
    F.elementwise(c, P, 1, 1)                   -- masked_fill
  end
  F.softmax(c, P)
  F.matmul(c, B * H, S, S, hd)                  -- weights v
  F.linear(c, M, d, H, true, xg)                -- gate
  F.softmax(c, M * H)                           -- over the heads
  F.elementwise(c, M * d, 1, 2)                 -- each head's output times its gate
  F.kept(c, M * d)                              -- the merged heads (a copy)
  F.linear(c, M, d, d, true, true, false)       -- out_proj
  return c
end

-- floats per token a KV cache keeps.  The seed says to cache the latents
-- k_latent and v_latent (H*latent_rank each); since V_k and V_v map a
-- latent of latent_rank to head_dim, caching k and v themselves costs
-- H*head_dim each, so a decoder keeps whichever is smaller.
function GatedLatentAttention:kv_floats_per_token()
  return 2 * self.num_heads * math.min(self.latent_rank, self.head_dim)
end

return GatedLatentAttention
