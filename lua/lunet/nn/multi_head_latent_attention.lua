-- nn.MultiHeadLatentAttention{hidden_size=256, down_dim, up_dim, num_heads=8,
--   rope_head_dim, dropout_prob=0, rope_seed_layout=true}  (alias nn.MLA;
--   the sizes not given follow the width rule below: 64, 128, 26 at 256/8)
--
-- Seed 002's MLA.  Keys, values and queries pass through low-rank
-- latents (down_dim) before being projected up (up_dim, split into heads);
-- a decoupled RoPE branch adds rope_head_dim position-carrying dims to
-- every query head and one shared key head:
--
--   c_kv = down_proj_kv(h)            c_q = down_proj_q(h)
--   k_c  = up_proj_k(c_kv)            q_c = up_proj_q(c_q)       (per head)
--   v    = up_proj_v(c_kv)                                       (per head)
--   k_r  = rope(proj_kr(h))  shared   q_r = rope(proj_qr(c_q))   (per head)
--   q = cat(q_c, q_r), k = cat(k_c, k_r)
--   out = res_dropout(fc(softmax(q k^T / (sqrt(head_dim) + sqrt(rope_head_dim))) v))
--
-- As in the seed (and unlike DeepSeek-V2): the scale is
-- 1/(sqrt(hidden_size/num_heads) + sqrt(rope_head_dim)), not
-- 1/sqrt(up_dim/num_heads + rope_head_dim); the latents have no norms;
-- and RoPE uses the seed's table layout, whose "cos" table holds the
-- sines and "sin" table the cosines (see rotary_embedding.lua); that is
-- still a rotation by a relative angle, but position 0 is not the
-- identity.  rope_seed_layout=false gives the standard RoPE tables.
--
-- Decoding (forward's cache= option, new_cache()) runs the absorbed form:
-- the cache keeps only c_kv and the rotated k_r per position, up_proj_k
-- is folded into the queries and up_proj_v into the output (see decode).
local Module = require "lunet.nn.module"
local Linear = require "lunet.nn.linear"
local Dropout = require "lunet.nn.dropout"
local RotaryEmbedding = require "lunet.nn.rotary_embedding"
local heads = require "lunet.nn.heads"
local lunet = require "lunet"

local MultiHeadLatentAttention = Module:extend("MultiHeadLatentAttention", {
  "hidden_size", "down_dim", "up_dim", "num_heads", "rope_head_dim", "dropout_prob",
  hidden_size = 256, down_dim = Module.AUTO, up_dim = Module.AUTO, num_heads = 8,
  rope_head_dim = Module.AUTO, dropout_prob = 0, rope_seed_layout = true,
})

-- m.output_attentions = true: each forward keeps its attention weights
-- {B,H,S,T} (detached) in m.attention_weights, for attention maps
MultiHeadLatentAttention.output_attentions = false

--[[
The width rule: sizes not given follow from hidden_size and num_heads
(head_dim = hidden_size / num_heads) in the seed's proportions, so at
hidden 256 with 8 heads they are the seed's 64, 128 and 26:
  down_dim       hidden_size / 4            (the latent: a quarter of the width)
  up_dim         num_heads * head_dim / 2   (half a head of content dims per head)
  rope_head_dim  13/16 of head_dim, rounded to an even number (26 of 32)
each at least 1 (rope_head_dim at least 2).  Options given always win.
]]
function MultiHeadLatentAttention.default_sizes(hidden_size, num_heads)
  local head_dim = hidden_size // num_heads
  return {
    down_dim = math.max(1, hidden_size // 4),
    up_dim = num_heads * math.max(1, head_dim // 2),
    rope_head_dim = math.max(2, 2 * math.floor(13 * head_dim / 32 + 0.5)),
  }
end

-- the sizes, checked, without building anything (see MultiHeadAttention:configure)
function MultiHeadLatentAttention:configure(o)
  self:check_positive(o, "hidden_size", "num_heads")
  if o.hidden_size % o.num_heads ~= 0 then
    self:fail("hidden_size %d is not divisible by num_heads %d", o.hidden_size, o.num_heads)
  end
  local auto = self.default_sizes(o.hidden_size, o.num_heads)
  local sizes = { down_dim = o.down_dim or auto.down_dim, up_dim = o.up_dim or auto.up_dim,
                  rope_head_dim = o.rope_head_dim or auto.rope_head_dim }
  self:check_positive(sizes, "down_dim", "up_dim", "rope_head_dim")
  local hidden, down, up, H, R = o.hidden_size, sizes.down_dim, sizes.up_dim, o.num_heads,
                                 sizes.rope_head_dim
  if up % H ~= 0 then self:fail("up_dim %d is not divisible by num_heads %d", up, H) end
  if R % 2 ~= 0 then self:fail("rope_head_dim must be even, got %d", R) end
  self.hidden_size, self.down_dim, self.up_dim, self.num_heads = hidden, down, up, H
  self.head_dim, self.rope_head_dim, self.v_head_dim = hidden // H, R, up // H
end

-- what cannot work well
function MultiHeadLatentAttention:size_warnings()
  return heads.width_warnings(self.up_dim // self.num_heads,
                              string.format("up_dim %d / num_heads %d =", self.up_dim, self.num_heads),
                              self.down_dim, "down_dim", self.hidden_size, "hidden_size")
end

function MultiHeadLatentAttention:init(o)
  self:configure(o)
  heads.warn(self)
  local hidden, down, up, H, R = self.hidden_size, self.down_dim, self.up_dim, self.num_heads,
                                 self.rope_head_dim
  -- down projections to the latents
  self.down_proj_kv = Linear(hidden, down)
  self.down_proj_q = Linear(hidden, down)
  -- up projections from the latents
  self.up_proj_k = Linear(down, up)
  self.up_proj_v = Linear(down, up)
  self.up_proj_q = Linear(down, up)
  -- the decoupled RoPE branch: R dims per query head, R shared key dims
  self.proj_qr = Linear(down, R * H)
  self.proj_kr = Linear(hidden, R)
  self.rope_q = RotaryEmbedding { dim = R, seed_layout = o.rope_seed_layout }
  self.rope_k = RotaryEmbedding { dim = R, seed_layout = o.rope_seed_layout }
  -- output
  self.dropout = Dropout(o.dropout_prob)
  self.fc = Linear(H * self.v_head_dim, hidden)
  self.res_dropout = Dropout(o.dropout_prob)
end

-- h {B, S, hidden_size}; mask nil or {B, S} (1 keep, 0 masked);
-- opts {causal=true}, and cache= a cache from new_cache() to decode (see
-- decode below; the mask, if any, is then {B, cached + S}).
-- Returns {B, S, hidden_size}.
function MultiHeadLatentAttention:forward(h, mask, opts)
  heads.check_input(self, h, self.hidden_size, "hidden_size")
  local B, S, H = h:size(1), h:size(2), self.num_heads
  local cache = heads.cache(self, opts)
  local causal = heads.causal(self, opts)
  if cache then
    heads.check_mask(self, mask, B, cache.length + S, true)
    return self:decode(h, mask, causal, cache)
  end
  heads.check_mask(self, mask, B, S)
  -- 1. low-rank latents and their up projections
  local c_kv = self.down_proj_kv(h)                        -- {B,S,down_dim}
  local k_c = heads.split(self.up_proj_k(c_kv), H)         -- {B,H,S,up_dim/H}
  local v = heads.split(self.up_proj_v(c_kv), H)           -- {B,H,S,v_head_dim}
  local c_q = self.down_proj_q(h)                          -- {B,S,down_dim}
  local q_c = heads.split(self.up_proj_q(c_q), H)          -- {B,H,S,up_dim/H}
  -- 2. the RoPE branch: per-head q_r, one k_r shared by all heads
  local q_r = self.rope_q(heads.split(self.proj_qr(c_q), H))   -- {B,H,S,R}
  local k_r = self.rope_k(heads.split(self.proj_kr(h), 1))     -- {B,1,S,R}
  k_r = k_r:expand { B, H, S, self.rope_head_dim }             -- {B,H,S,R}
  -- 3. content and position parts side by side
  local q = lunet.cat({ q_c, q_r }, -1)                    -- {B,H,S,up_dim/H+R}
  local k = lunet.cat({ k_c, k_r }, -1)                    -- {B,H,S,up_dim/H+R}
  -- 4. attention with the seed's scale, dropout on the weights: {B,H,S,v_head_dim}
  local scale = 1 / (math.sqrt(self.head_dim) + math.sqrt(self.rope_head_dim))
  local context = heads.attend(self, q, k, v, mask, causal, scale)
  -- 5. merge heads {B,S,H*v_head_dim}, project back, residual dropout
  return self.res_dropout(self.fc(heads.merge(context)))
end

-- ---------------------------------------------------------------- decoding

-- The KV cache keeps, per position, only the latent c_kv (down_dim) and
-- the shared RoPE key k_r after its rotation (rope_head_dim), side by side
-- in one stream "kv" {B, 1, T, down_dim + rope_head_dim}: exactly
-- kv_floats_per_token() floats.  opts {capacity=N} preallocates.
function MultiHeadLatentAttention:new_cache(opts)
  return heads.new_cache(self, { { "kv", 1, self.down_dim + self.rope_head_dim } }, opts)
end

-- For a {B,T} padding mask: {B,1,S,1}, 1 where query i (the last S of
-- T) sees at least one kept key, else 0.  Causal query i sees keys
-- j <= i + T - S, so its count of kept keys is mask {B,T} times the
-- {T,S} table of (j visible to i).
local function live_rows(mask, S, T, causal)
  local keep = mask:ne(0)
  local count
  if causal then
    local seen = lunet.arange(T):view { T, 1 }:le(lunet.arange(S):view { 1, S } + (T - S))
    count = keep:matmul(seen)                                     -- {B,S}
  else
    count = keep:sum(2, true):expand { mask:size(1), S }
  end
  return count:gt(0):view { mask:size(1), 1, S, 1 }
end

-- The absorbed form: with W_uk[h], W_uv[h] head h's rows of
-- up_proj_k.weight and up_proj_v.weight ({up_dim/H, down_dim} each),
--
--   q_c[h] . k_c[h]_j = q_c[h] . (W_uk[h] c_j + b_uk[h])
--                     = (W_uk[h]^T q_c[h]) . c_j + q_c[h] . b_uk[h]
--
-- and the last term is the same for every key j, which softmax ignores;
-- so each head's query becomes cat(W_uk[h]^T q_c[h], q_r[h]) against the
-- one shared key cat(c_j, k_r_j) -- an MQA over down_dim + R dims that
-- reads the cache as it lies.  The values fold the same way:
--
--   sum_j p_j (W_uv[h] c_j + b_uv[h]) = W_uv[h] (sum_j p_j c_j) + b_uv[h] sum_j p_j
--
-- with sum_j p_j = 1, except for a query whose keys are all masked, which
-- the attention gives zero weights (and the full form a zero context):
-- b_uv is kept off those rows.  (Attention dropout, active only while
-- training, would scale sum_j p_j too; decoding is meant for eval mode.)
function MultiHeadLatentAttention:decode(h, mask, causal, cache)
  local B, S, H, R, down = h:size(1), h:size(2), self.num_heads, self.rope_head_dim, self.down_dim
  local dk, dv, L = self.up_dim // H, self.v_head_dim, cache.length
  -- 1. what this position leaves in the cache, then every position's: {B,1,T,down+R}
  local c_kv = self.down_proj_kv(h):unsqueeze(2)                    -- {B,1,S,down}
  local k_r = self.rope_k(heads.split(self.proj_kr(h), 1), L)       -- {B,1,S,R}, positions L..
  local kv = cache:append(lunet.cat({ c_kv, k_r }, -1))
  local T = kv:size(3)
  -- 2. queries, with up_proj_k folded in: {B,H,S,down+R}
  local c_q = self.down_proj_q(h)
  local q_c = heads.split(self.up_proj_q(c_q), H)                   -- {B,H,S,dk}
  local q_r = self.rope_q(heads.split(self.proj_qr(c_q), H), L)     -- {B,H,S,R}
  local w_uk = self.up_proj_k.weight:view { H, dk, down }
  local q = lunet.cat({ q_c:matmul(w_uk), q_r }, -1)
  -- 3. attention over the latents (values: the c_kv part of the cache): {B,H,S,down}
  local scale = 1 / (math.sqrt(self.head_dim) + math.sqrt(R))
  local ctx = heads.attend(self, q, kv, kv:narrow(4, 1, down), mask, causal, scale)
  -- 4. up_proj_v folded into the output: {B,H,S,dv}
  local context = ctx:matmul(self.up_proj_v.weight:view { H, dv, down }:transpose(2, 3))
  local b_uv = self.up_proj_v.bias
  if b_uv ~= nil then
    b_uv = b_uv:view { H, 1, dv }
    if mask ~= nil then b_uv = b_uv * live_rows(mask, S, T, causal) end
    context = context + b_uv
  end
  return self.res_dropout(self.fc(heads.merge(context)))
end

-- ---------------------------------------------------------------- costs

-- The analytic cost of one forward/backward on B sequences of S tokens
-- (see MultiHeadAttention:costs and lunet/profile_formulas.lua).
function MultiHeadLatentAttention:costs(B, S, o)
  local F = require "lunet.profile_formulas"
  o = o or {}
  local c, M, H, R = F.new(), B * S, self.num_heads, self.rope_head_dim
  local hidden, down, up, xg = self.hidden_size, self.down_dim, self.up_dim, o.grad_input ~= false
  F.linear(c, M, hidden, down, true, xg)        -- down_proj_kv
  F.linear(c, M, down, up, true, true)          -- up_proj_k
  F.linear(c, M, down, up, true, true)          -- up_proj_v
  F.gradient_sum(c, M * down, 2)                -- c_kv feeds both
  F.linear(c, M, hidden, down, true, xg)        -- down_proj_q
  F.linear(c, M, down, up, true, true)          -- up_proj_q
  F.linear(c, M, down, R * H, true, true)       -- proj_qr
  F.gradient_sum(c, M * down, 2)                -- c_q feeds both
  F.rope(c, M * H * R)                          -- rope_q
  F.linear(c, M, hidden, R, true, xg)           -- proj_kr
  F.rope(c, M * R)                              -- rope_k (its expand to H heads is a view)
  F.kept(c, 2 * M * (up + H * R))               -- q and k, content and RoPE parts side by side
  F.attention(c, B * H, S, S, up // H + R, self.v_head_dim, o.causal)
  F.kept(c, M * up)                             -- the merged heads (a copy)
  F.linear(c, M, H * self.v_head_dim, hidden, true, true, false)   -- fc
  return c
end

-- floats per token a KV cache keeps: the latent c_kv (keys and values
-- are projected up from it) and the one shared RoPE key
function MultiHeadLatentAttention:kv_floats_per_token()
  return self.down_dim + self.rope_head_dim
end

return MultiHeadLatentAttention
