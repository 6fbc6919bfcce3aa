-- nn.MultiHeadLatentAttention{hidden_size=256, down_dim=64, up_dim=128,
--   num_heads=8, rope_head_dim=26, dropout_prob=0}  (alias nn.MLA)
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
-- and RoPE uses the seed's table layout (see rotary_embedding.lua;
-- rope_seed_layout=false gives the standard rotation).
local Module = require "lunet.nn.module"
local Linear = require "lunet.nn.linear"
local Dropout = require "lunet.nn.dropout"
local RotaryEmbedding = require "lunet.nn.rotary_embedding"
local heads = require "lunet.nn.heads"
local lunet = require "lunet"

local MultiHeadLatentAttention = Module:extend("MultiHeadLatentAttention", {
  "hidden_size", "down_dim", "up_dim", "num_heads", "rope_head_dim", "dropout_prob",
  hidden_size = 256, down_dim = 64, up_dim = 128, num_heads = 8, rope_head_dim = 26,
  dropout_prob = 0, rope_seed_layout = true,
})

function MultiHeadLatentAttention:init(o)
  self:check_positive(o, "hidden_size", "down_dim", "up_dim", "num_heads", "rope_head_dim")
  if o.hidden_size % o.num_heads ~= 0 then
    self:fail("hidden_size %d is not divisible by num_heads %d", o.hidden_size, o.num_heads)
  end
  if o.up_dim % o.num_heads ~= 0 then
    self:fail("up_dim %d is not divisible by num_heads %d", o.up_dim, o.num_heads)
  end
  if o.rope_head_dim % 2 ~= 0 then self:fail("rope_head_dim must be even, got %d", o.rope_head_dim) end
  local hidden, down, up, H, R = o.hidden_size, o.down_dim, o.up_dim, o.num_heads, o.rope_head_dim
  self.hidden_size, self.down_dim, self.up_dim, self.num_heads = hidden, down, up, H
  self.head_dim, self.rope_head_dim, self.v_head_dim = hidden // H, R, up // H
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
-- opts {causal=true}.  Returns {B, S, hidden_size}.
function MultiHeadLatentAttention:forward(h, mask, opts)
  heads.check_input(self, h, self.hidden_size, "hidden_size")
  local B, S, H = h:size(1), h:size(2), self.num_heads
  heads.check_mask(self, mask, B, S)
  local causal = heads.causal(self, opts)
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

return MultiHeadLatentAttention
