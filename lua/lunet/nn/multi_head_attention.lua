-- nn.MultiHeadAttention{hidden_size, num_heads, dropout=0, head_dim=hidden_size/num_heads}
-- (alias nn.MHA):
-- seed 002's MHA.  Its key/value projections have kv_heads heads; here
-- kv_heads = num_heads, and MultiQueryAttention (1) and
-- GroupedQueryAttention (num_heads/group_size) reuse everything but that
-- number.  The fused attention op shares each kv head among
-- num_heads/kv_heads query heads, exactly as the seed's expand does,
-- without copying.
local Module = require "lunet.nn.module"
local Linear = require "lunet.nn.linear"
local Dropout = require "lunet.nn.dropout"
local heads = require "lunet.nn.heads"

local MultiHeadAttention = Module:extend("MultiHeadAttention", {
  "hidden_size", "num_heads", "dropout", dropout = 0, head_dim = Module.AUTO,
})

-- m.output_attentions = true: each forward keeps its attention weights
-- {B,H,S,T} (detached) in m.attention_weights, for attention maps
MultiHeadAttention.output_attentions = false

function MultiHeadAttention:init(o)
  self:build(o)
end

-- The sizes, without building anything (lunet.nn.attention probes them
-- to match budgets): head_dim defaults to hidden_size / num_heads, as in
-- the seed; another head_dim decouples the heads' width from the model's
-- (q, k, v project to num_heads * head_dim, out_projection back).
-- kv_heads: the key/value heads (default num_heads; MQA 1, GQA fewer).
function MultiHeadAttention:configure(o, kv_heads)
  self:check_positive(o, "hidden_size", "num_heads")
  local head_dim = o.head_dim
  if head_dim == nil then
    if o.hidden_size % o.num_heads ~= 0 then
      self:fail("hidden_size %d is not divisible by num_heads %d", o.hidden_size, o.num_heads)
    end
    head_dim = o.hidden_size // o.num_heads
  end
  self:check_positive({ head_dim = head_dim }, "head_dim")
  self.hidden_size, self.num_heads, self.head_dim = o.hidden_size, o.num_heads, head_dim
  self.kv_heads = kv_heads or o.num_heads
end

-- what cannot work well (lunet.nn.attention warns of it)
function MultiHeadAttention:size_warnings()
  return heads.width_warnings(self.head_dim, "head_dim")
end

-- the seed's layers, in its order: query, key, value, dropout, out_projection
function MultiHeadAttention:build(o)
  self:configure(o)
  heads.warn(self)
  local hidden, width = self.hidden_size, self.num_heads * self.head_dim
  local kv = self.kv_heads * self.head_dim
  self.query = Linear(hidden, width)
  self.key = Linear(hidden, kv)
  self.value = Linear(hidden, kv)
  self.dropout = Dropout(o.dropout)
  self.out_projection = Linear(width, hidden)
end

-- x {B, S, hidden_size}; mask nil or {B, S} (1 keep, 0 masked);
-- opts {causal=true} for language models, cache= a cache from
-- new_cache() to decode: x holds the next S positions, appended to the
-- cache, and attends over all cached ones (the mask, if any, is then
-- {B, cached + S}).  Returns {B, S, hidden_size}.
function MultiHeadAttention:forward(x, mask, opts)
  heads.check_input(self, x, self.hidden_size, "hidden_size")
  local cache = heads.cache(self, opts)
  heads.check_mask(self, mask, x:size(1), x:size(2) + (cache and cache.length or 0), cache)
  local causal = heads.causal(self, opts)
  -- 1. project and split into heads: q {B,H,S,D}, k and v {B,Hk,S,D}
  local q = heads.split(self.query(x), self.num_heads)
  local k = heads.split(self.key(x), self.kv_heads)
  local v = heads.split(self.value(x), self.kv_heads)
  -- decoding: k and v of every position so far, {B,Hk,T,D}
  if cache then k, v = cache:append(k, v) end
  -- 2. softmax(q k^T / sqrt(D)) v over the kept keys, dropout on the weights: {B,H,S,D}
  local context = heads.attend(self, q, k, v, mask, causal)
  -- 3. merge the heads {B,S,H*D} and project back
  return self.out_projection(heads.merge(context))
end

-- A KV cache for decoding (see heads.lua): the key and value heads of
-- every position, kv_heads * head_dim floats each.  opts {capacity=N}
-- preallocates N positions.
function MultiHeadAttention:new_cache(opts)
  return heads.new_cache(self, { { "k", self.kv_heads, self.head_dim },
                                 { "v", self.kv_heads, self.head_dim } }, opts)
end

-- ---------------------------------------------------------------- costs

-- The analytic cost of one forward/backward on B sequences of S tokens,
-- by lunet.profile's conventions (see lunet/profile_formulas.lua); the
-- profile spec checks it against a measured run.  o: {causal=true},
-- {grad_input=false} when the input needs no gradient.
function MultiHeadAttention:costs(B, S, o)
  local F = require "lunet.profile_formulas"
  o = o or {}
  local c, M, hidden = F.new(), B * S, self.hidden_size
  local width = self.num_heads * self.head_dim
  local kv, xg = self.kv_heads * self.head_dim, o.grad_input ~= false
  F.linear(c, M, hidden, width, true, xg)            -- query
  F.linear(c, M, hidden, kv, true, xg)               -- key
  F.linear(c, M, hidden, kv, true, xg)               -- value
  F.attention(c, B * self.num_heads, S, S, self.head_dim, self.head_dim, o.causal)
  F.kept(c, M * width)                               -- the merged heads (a copy)
  F.linear(c, M, width, hidden, true, true, false)   -- out_projection
  return c
end

-- floats per token a KV cache keeps: a key and a value per kv head
function MultiHeadAttention:kv_floats_per_token()
  return 2 * self.kv_heads * self.head_dim
end

return MultiHeadAttention
