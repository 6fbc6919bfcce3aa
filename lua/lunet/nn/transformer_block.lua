-- nn.TransformerBlock{d_model, num_heads, attention='mha', mlp_ratio=4,
--   norm='layernorm', dropout=0, ...}: a pre-norm transformer block,
--
--   x = x + dropout(attn(ln_1(x), mask, opts))
--   x = x + dropout(mlp(ln_2(x)))          mlp = Linear, GELU, Linear
--
-- attention is 'mha', 'mqa', 'gqa', 'mla' or 'gated'; any further options
-- (group_size, down_dim, up_dim, rope_head_dim, latent_rank, ...) go to
-- the attention module, which rejects those it does not know.
local Module = require "lunet.nn.module"
local Linear = require "lunet.nn.linear"
local Dropout = require "lunet.nn.dropout"
local Sequential = require "lunet.nn.sequential"
local GELU = require("lunet.nn.activation").GELU

local TransformerBlock = Module:extend("TransformerBlock", {
  "d_model", "num_heads", attention = "mha", mlp_ratio = 4, norm = "layernorm", dropout = 0,
})
TransformerBlock.extra_options = true

-- attention name -> function(d_model, num_heads, dropout, extra options) -> module
TransformerBlock.attentions = {
  mha = function(d, h, p, extra)
    extra.hidden_size, extra.num_heads, extra.dropout = d, h, p
    return require("lunet.nn.multi_head_attention")(extra)
  end,
  mqa = function(d, h, p, extra)
    extra.hidden_size, extra.num_heads, extra.dropout = d, h, p
    return require("lunet.nn.multi_query_attention")(extra)
  end,
  gqa = function(d, h, p, extra)
    extra.hidden_size, extra.num_heads, extra.dropout = d, h, p
    return require("lunet.nn.grouped_query_attention")(extra)
  end,
  mla = function(d, h, p, extra)
    extra.hidden_size, extra.num_heads, extra.dropout_prob = d, h, p
    return require("lunet.nn.multi_head_latent_attention")(extra)
  end,
  gated = function(d, h, _, extra)   -- seed 000 has no attention dropout
    extra.d_model, extra.num_heads = d, h
    return require("lunet.nn.gated_latent_attention")(extra)
  end,
}

TransformerBlock.norms = {
  layernorm = function(d) return require("lunet.nn.layer_norm")(d) end,
  rmsnorm = function(d) return require("lunet.nn.rms_norm")(d) end,
}

-- the options of o that are not the block's own
local function extra_options(o)
  local extra = {}
  for k, v in pairs(o) do
    if TransformerBlock.spec[k] == nil and k ~= "d_model" and k ~= "num_heads" then extra[k] = v end
  end
  return extra
end

-- "'a', 'b', 'c'" for error messages
local function choices(t)
  local names = {}
  for k in pairs(t) do names[#names + 1] = "'" .. k .. "'" end
  table.sort(names)
  return table.concat(names, ", ")
end

function TransformerBlock:init(o)
  self:check_positive(o, "d_model", "num_heads")
  local make_attn, make_norm = self.attentions[o.attention], self.norms[o.norm]
  if not make_attn then
    self:fail("attention must be one of %s, got %s", choices(self.attentions), tostring(o.attention))
  end
  if not make_norm then
    self:fail("norm must be one of %s, got %s", choices(self.norms), tostring(o.norm))
  end
  local hidden = o.d_model * o.mlp_ratio
  if math.type(hidden) ~= "integer" and hidden ~= math.floor(hidden) or hidden <= 0 then
    self:fail("d_model * mlp_ratio must be a positive integer, got %s", tostring(hidden))
  end
  hidden = math.tointeger(hidden)
  self.d_model, self.attention = o.d_model, o.attention
  self.ln_1 = make_norm(o.d_model)
  self.attn = make_attn(o.d_model, o.num_heads, o.dropout, extra_options(o))
  self.ln_2 = make_norm(o.d_model)
  self.mlp = Sequential(Linear(o.d_model, hidden), GELU(), Linear(hidden, o.d_model))
  self.dropout = Dropout(o.dropout)
end

-- x {B, S, d_model}; mask nil or {B, S}; opts as the attention's
-- ({causal=true}, and cache= from new_cache() to decode)
function TransformerBlock:forward(x, mask, opts)
  x = x + self.dropout(self.attn(self.ln_1(x), mask, opts))
  return x + self.dropout(self.mlp(self.ln_2(x)))
end

-- the attention's KV cache: only attention looks at other positions
function TransformerBlock:new_cache(opts)
  return self.attn:new_cache(opts)
end

return TransformerBlock
