-- nn.GatedLatentAttention{d_model, num_heads, latent_rank=32}
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
-- them (no NaN).
local lunet = require "lunet"
local Module = require "lunet.nn.module"
local Linear = require "lunet.nn.linear"
local heads = require "lunet.nn.heads"

local GatedLatentAttention = Module:extend("GatedLatentAttention", {
  "d_model", "num_heads", "latent_rank", latent_rank = 32,
})

function GatedLatentAttention:init(o)
  self:check_positive(o, "d_model", "num_heads", "latent_rank")
  if o.d_model % o.num_heads ~= 0 then
    self:fail("d_model %d is not divisible by num_heads %d", o.d_model, o.num_heads)
  end
  local d, H, r = o.d_model, o.num_heads, o.latent_rank
  self.d_model, self.num_heads, self.latent_rank, self.head_dim = d, H, r, d // H
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

-- {B, S, H*r} -> per head: {B, S, H, r} -> V {B, S, H, head_dim} -> {B, H, S, head_dim}
local function low_rank_heads(self, latent, V)
  local B, S = latent:size(1), latent:size(2)
  return V(latent:view { B, S, self.num_heads, self.latent_rank }):transpose(2, 3)
end

-- x {B, S, d_model}; mask nil or {B, S} (1 keep, 0 masked);
-- opts {causal=true}.  Returns {B, S, d_model}.
function GatedLatentAttention:forward(x, mask, opts)
  heads.check_input(self, x, self.d_model, "d_model")
  local B, S, H = x:size(1), x:size(2), self.num_heads
  heads.check_mask(self, mask, B, S)
  local causal = heads.causal(self, opts)
  -- 1. low-rank keys and values, full-rank queries: {B,H,S,head_dim}
  local k = low_rank_heads(self, self.U_k(x), self.V_k)
  local v = low_rank_heads(self, self.U_v(x), self.V_v)
  local q = heads.split(self.W_q(x), H)
  -- 2. scores with the per-head latent bias: {B,H,S,S}
  local scores = q:matmul(k:transpose(-2, -1)) / math.sqrt(self.head_dim)
  scores = scores + self.latent_bias
  if mask ~= nil then
    scores = scores:masked_fill(mask:eq(0):view { B, 1, 1, S }, -1e9)
  end
  if causal then   -- key j > query i is in the future
    local pos = lunet.arange(S)
    scores = scores:masked_fill(pos:view { S, 1 }:lt(pos:view { 1, S }), -1e9)
  end
  -- 3. attend: {B,H,S,head_dim}
  local context = scores:softmax(-1):matmul(v)
  -- 4. gate each head by a softmax over heads of gate(x): {B,S,H} -> {B,H,S,1}
  local gate = self.gate(x):softmax(-1):permute { 1, 3, 2 }:unsqueeze(4)
  -- 5. the fix: concatenate the gated heads back to d_model, then project
  return self.out_proj(heads.merge(context * gate))
end

return GatedLatentAttention
