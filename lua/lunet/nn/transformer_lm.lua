-- nn.TransformerLM{vocab_size, d_model, n_layer, num_heads, max_len=512,
--   attention='mha', tie_weights=true, positions='auto', norm='layernorm',
--   mlp_ratio=4, dropout=0, ...}: a decoder-only language model,
--
--   h = dropout(wte(ids) + wpe(positions))     (wpe only with learned positions)
--   h = block_n(... block_1(h, mask, {causal=true}))
--   logits = ln_f(h) wte^T                     (or lm_head(ln_f(h)) untied)
--
-- positions = 'auto' means learned positions (wpe, up to max_len) for
-- mha, mqa, gqa and gated attention, and none for mla, which carries its
-- own RoPE; 'learned' or 'none' choose explicitly.  Further options go to
-- every block's attention (e.g. group_size=4, latent_rank=16).
local lunet = require "lunet"
local Module = require "lunet.nn.module"
local Embedding = require "lunet.nn.embedding"
local Linear = require "lunet.nn.linear"
local Dropout = require "lunet.nn.dropout"
local ModuleList = require "lunet.nn.module_list"
local TransformerBlock = require "lunet.nn.transformer_block"

local TransformerLM = Module:extend("TransformerLM", {
  "vocab_size", "d_model", "n_layer", "num_heads",
  max_len = 512, attention = "mha", tie_weights = true, positions = "auto",
  norm = "layernorm", mlp_ratio = 4, dropout = 0,
})
TransformerLM.extra_options = true

function TransformerLM:init(o)
  self:check_positive(o, "vocab_size", "d_model", "n_layer", "num_heads", "max_len")
  local positions = o.positions
  if positions == "auto" then positions = o.attention == "mla" and "none" or "learned" end
  if positions ~= "learned" and positions ~= "none" then
    self:fail("positions must be 'auto', 'learned' or 'none', got %s", tostring(positions))
  end
  self.vocab_size, self.d_model, self.max_len = o.vocab_size, o.d_model, o.max_len
  self.positions, self.tie_weights = positions, o.tie_weights and true or false
  local block_opts = {}
  for k, v in pairs(o) do
    if k ~= "vocab_size" and k ~= "n_layer" and k ~= "max_len" and k ~= "tie_weights"
       and k ~= "positions" then
      block_opts[k] = v
    end
  end
  self.wte = Embedding(o.vocab_size, o.d_model)
  if positions == "learned" then self.wpe = Embedding(o.max_len, o.d_model) end
  self.drop = Dropout(o.dropout)
  self.blocks = ModuleList()
  for _ = 1, o.n_layer do self.blocks:append(TransformerBlock(block_opts)) end
  self.ln_f = TransformerBlock.norms[o.norm](o.d_model)
  if not self.tie_weights then self.lm_head = Linear { o.d_model, o.vocab_size, bias = false } end
  -- GPT-2's initialisation of the embeddings: N(0, 0.02), so tied logits
  -- start small
  lunet.no_grad(function()
    self.wte.weight:normal_(0, 0.02)
    if self.wpe then self.wpe.weight:normal_(0, 0.02) end
  end)
end

-- ids {B, S}: 1-based token ids; mask nil or {B, S} padding mask.
-- Returns logits {B, S, vocab_size}.
function TransformerLM:forward(ids, mask)
  if not lunet.is_tensor(ids) or ids:dim() ~= 2 then
    self:fail("ids must be a {batch, seq} tensor of token ids, got %s",
              lunet.is_tensor(ids) and Module.shape_str(ids) or type(ids))
  end
  local S = ids:size(2)
  local h = self.wte(ids)                                   -- {B,S,d_model}
  if self.wpe then
    if S > self.max_len then self:fail("sequence length %d exceeds max_len %d", S, self.max_len) end
    h = h + self.wpe(lunet.arange(1, S + 1))                -- + {S,d_model}
  end
  h = self.drop(h)
  for _, block in ipairs(self.blocks) do h = block(h, mask, { causal = true }) end
  h = self.ln_f(h)
  if self.tie_weights then return lunet.linear(h, self.wte.weight) end   -- {B,S,vocab}
  return self.lm_head(h)
end

return TransformerLM
