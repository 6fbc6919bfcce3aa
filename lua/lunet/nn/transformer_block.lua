-- nn.TransformerBlock{d_model, num_heads, attention='mha', mlp_ratio=4,
--   norm='layernorm', dropout=0, ...}: a pre-norm transformer block,
--
--   x = x + dropout(attn(ln_1(x), mask, opts))
--   x = x + dropout(mlp(ln_2(x)))          mlp = Linear, GELU, Linear (nn.MLP: one fused op)
--
-- attention is 'mha', 'mqa', 'gqa', 'mla' or 'gated', built by
-- lunet.nn.attention; the further options the chosen variant takes
-- (group_size, head_dim, down_dim, up_dim, rope_head_dim, latent_rank, ...)
-- go to it, and any other is an unknown option of the block.
local Module = require "lunet.nn.module"
local Dropout = require "lunet.nn.dropout"
local MLP = require "lunet.nn.mlp"
local attention = require "lunet.nn.attention"
local util = require "lunet.util"

local TransformerBlock = Module:extend("TransformerBlock", {
  "d_model", "num_heads", attention = "mha", mlp_ratio = 4, norm = "layernorm", dropout = 0,
})

-- the options the block hands to its attention (nil for an attention name
-- it does not know, which init reports)
function TransformerBlock.extra_options(o)
  if attention.variants[o.attention] == nil then return nil end
  return attention.option_names(o.attention)
end

TransformerBlock.norms = {
  layernorm = function(d) return require("lunet.nn.layer_norm")(d) end,
  rmsnorm = function(d) return require("lunet.nn.rms_norm")(d) end,
}

-- the options of o that go to the attention
local function attention_options(o)
  local extra = { dropout = o.dropout }
  for _, k in ipairs(attention.option_names(o.attention)) do
    if o[k] ~= nil and k ~= "dropout" then extra[k] = o[k] end
  end
  return extra
end

local function names(t)
  local list = {}
  for k in pairs(t) do list[#list + 1] = k end
  return list
end

function TransformerBlock:init(o)
  self:check_positive(o, "d_model", "num_heads")
  attention.check(self:class_name(), o.attention)
  local make_norm = self.norms[o.norm]
  if not make_norm then
    self:fail("norm must be %s, got %s", util.choices(names(self.norms)), tostring(o.norm))
  end
  local hidden = o.d_model * o.mlp_ratio
  if math.type(hidden) ~= "integer" and hidden ~= math.floor(hidden) or hidden <= 0 then
    self:fail("d_model * mlp_ratio must be a positive integer, got %s", tostring(hidden))
  end
  hidden = math.tointeger(hidden)
  self.d_model, self.attention = o.d_model, o.attention
  self.ln_1 = make_norm(o.d_model)
  self.attn = attention.new(o.attention, o.d_model, o.num_heads, attention_options(o))
  self.ln_2 = make_norm(o.d_model)
  self.mlp = MLP(o.d_model, hidden)
  self.dropout = Dropout(o.dropout)
end

-- x {B, S, d_model}; mask nil or {B, S}; opts as the attention's
-- ({causal=true}, and cache= from new_cache() to decode)
function TransformerBlock:forward(x, mask, opts)
  x = x + self.dropout(self.attn(self.ln_1(x), mask, opts))
  -- the second residual add goes inside the fused MLP (no tensor of its
  -- own) when nothing stands between: no dropout now, no hook on the mlp
  -- that must see the MLP's own output
  if self.dropout:rate() == 0 and rawget(self.mlp, "_hooks") == nil then
    return self.mlp(self.ln_2(x), x)
  end
  return x + self.dropout(self.mlp(self.ln_2(x)))
end

-- the attention's KV cache: only attention looks at other positions
function TransformerBlock:new_cache(opts)
  return self.attn:new_cache(opts)
end

return TransformerBlock
