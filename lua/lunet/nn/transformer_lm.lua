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
-- every block's attention (e.g. group_size=4, latent_rank=16); sizes not
-- given follow the attention's width rule.  match = 'params' or 'kv' (with
-- target = a number, by default the same model's with attention 'mha')
-- sets the attention's free size so the whole model's parameters, or its
-- KV cache per token over all layers, come nearest the target (see
-- lunet.nn.attention; model.budget holds the target and what was achieved).
--
-- Decoding: model:new_cache() gives a KV cache per layer, forward(ids,
-- nil, {cache=c}) runs the next positions through it, and
-- model:generate(prompt, n, {temperature, top_k, greedy, seed}) does both
-- (see below).
local lunet = require "lunet"
local Module = require "lunet.nn.module"
local Embedding = require "lunet.nn.embedding"
local Linear = require "lunet.nn.linear"
local Dropout = require "lunet.nn.dropout"
local ModuleList = require "lunet.nn.module_list"
local TransformerBlock = require "lunet.nn.transformer_block"
local util = require "lunet.util"

local TransformerLM = Module:extend("TransformerLM", {
  "vocab_size", "d_model", "n_layer", "num_heads",
  max_len = 512, attention = "mha", tie_weights = true, positions = "auto",
  norm = "layernorm", mlp_ratio = 4, dropout = 0, match = false, target = Module.AUTO,
})

-- the options handed on to every block (its own and its attention's)
function TransformerLM.extra_options(o)
  return TransformerBlock.extra_options(o)
end

local OWN = { vocab_size = true, n_layer = true, max_len = true, tie_weights = true,
              positions = true, match = true, target = true }

-- 'auto' positions: learned, except for MLA, which carries RoPE
local function positions_of(o, attn)
  if o.positions == "auto" then return attn == "mla" and "none" or "learned" end
  return o.positions
end

-- Parameters outside the attention layers: embeddings, norms, MLPs and
-- the output head, for matching a parameter budget (a spec checks this
-- against num_parameters for every variant).
local function non_attention_params(o, positions)
  local d, V, hidden = o.d_model, o.vocab_size, math.tointeger(o.d_model * o.mlp_ratio)
  local norm = o.norm == "rmsnorm" and d or 2 * d          -- weight (and bias)
  local block = 2 * norm + (d * hidden + hidden) + (hidden * d + d)
  return V * d + (positions == "learned" and o.max_len * d or 0) + o.n_layer * block + norm
         + (o.tie_weights and 0 or d * V)
end

-- match = "params" | "kv": the block options with the attention's free
-- size set so the model's parameters (all of them) or KV-cache floats per
-- token (all layers) come nearest target -- by default the same model's
-- with attention 'mha'.  Sets self.budget = {metric, target, achieved}.
local function matched(self, o, block_opts)
  local attention = require "lunet.nn.attention"
  if o.match ~= "params" and o.match ~= "kv" then
    self:fail("match must be 'params' or 'kv', got %s", tostring(o.match))
  end
  local d, H, L = o.d_model, o.num_heads, o.n_layer
  local function attn_opts(src)
    local t = {}
    for _, k in ipairs(attention.option_names(o.attention)) do t[k] = src[k] end
    return t
  end
  local fixed = o.match == "params" and non_attention_params(o, positions_of(o, o.attention)) or 0
  local target = o.target
  if target == nil then
    local mha = attention.probe("mha", d, H)
    target = o.match == "params" and non_attention_params(o, positions_of(o, "mha"))
                                     + L * attention.measure(mha, "params")
             or L * attention.measure(mha, "kv")
  end
  if type(target) ~= "number" or not (target > fixed) then
    self:fail("target must be a number above the %s the attention does not set (%d), got %s",
              o.match, fixed, tostring(target))
  end
  local opts, per_layer = attention.match(o.attention, d, H, attn_opts(block_opts), o.match,
                                          (target - fixed) / L)
  for k, v in pairs(opts) do block_opts[k] = v end
  self.budget = { metric = o.match, target = target, achieved = fixed + L * per_layer }
end

function TransformerLM:init(o)
  self:check_positive(o, "vocab_size", "d_model", "n_layer", "num_heads", "max_len")
  local positions = positions_of(o, o.attention)
  if positions ~= "learned" and positions ~= "none" then
    self:fail("positions must be 'auto', 'learned' or 'none', got %s", tostring(positions))
  end
  self.vocab_size, self.d_model, self.max_len = o.vocab_size, o.d_model, o.max_len
  self.positions, self.tie_weights = positions, o.tie_weights and true or false
  local block_opts = {}
  for k, v in pairs(o) do
    if not OWN[k] then block_opts[k] = v end
  end
  if o.match then matched(self, o, block_opts) end
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

-- ---------------------------------------------------------------- cache

-- A model's KV cache: one per layer (each attention's own kind, see
-- nn/heads.lua), plus the positions they all hold.
--   cache.length, cache.layers[i] (with its floats_per_token()),
--   cache:floats_per_token() (summed over layers), cache:reset()
local LMCache = { __name = "TransformerLMCache" }
LMCache.__index = LMCache

function LMCache:floats_per_token()
  local n = 0
  for _, c in ipairs(self.layers) do n = n + c:floats_per_token() end
  return n
end

function LMCache:reset()
  for _, c in ipairs(self.layers) do c:reset() end
  self.length = 0
  return self
end

function LMCache:__tostring()
  return string.format("TransformerLMCache(%d layers, length %d, %d floats per token)",
                       #self.layers, self.length, self:floats_per_token())
end

-- opts {capacity=N}: preallocate N positions in every layer
function TransformerLM:new_cache(opts)
  local layers = {}
  for i, block in ipairs(self.blocks) do layers[i] = block:new_cache(opts) end
  return setmetatable({ owner = self, layers = layers, length = 0 }, LMCache)
end

-- ---------------------------------------------------------------- forward

-- the options table of forward: nil or {cache=}
local CALL_OPTIONS = { "cache" }
local function cache_option(self, opts)
  if opts == nil then return nil end
  util.check_options(self:class_name(), opts, CALL_OPTIONS)
  local c = opts.cache
  if c == nil then return nil end
  if getmetatable(c) ~= LMCache or c.owner ~= self then
    self:fail("cache must come from this model's new_cache()")
  end
  return c
end

-- ids {B, S}: 1-based token ids; mask nil or {B, S} padding mask; opts
-- {cache=c} with c from new_cache() to decode: ids are the next S
-- positions after the c.length the cache holds (learned positions and
-- RoPE start there), appended to it, and the mask, if any, covers all
-- of them ({B, c.length + S}).  Returns logits {B, S, vocab_size}.
function TransformerLM:forward(ids, mask, opts)
  if not lunet.is_tensor(ids) or ids:dim() ~= 2 then
    self:fail("ids must be a {batch, seq} tensor of token ids, got %s",
              lunet.is_tensor(ids) and Module.shape_str(ids) or type(ids))
  end
  local cache = cache_option(self, opts)
  local S, L = ids:size(2), cache and cache.length or 0
  local h = self.wte(ids)                                   -- {B,S,d_model}
  if self.wpe then
    if L + S > self.max_len then
      if cache then
        self:fail("positions %d..%d (%d cached + %d new) exceed max_len %d", L + 1, L + S, L, S, self.max_len)
      end
      self:fail("sequence length %d exceeds max_len %d", S, self.max_len)
    end
    h = h + self.wpe(lunet.arange(L + 1, L + S + 1))        -- + {S,d_model}
  end
  h = self.drop(h)
  for i, block in ipairs(self.blocks) do
    h = block(h, mask, { causal = true, cache = cache and cache.layers[i] })
  end
  if cache then cache.length = L + S end
  h = self.ln_f(h)
  if self.tie_weights then return lunet.linear(h, self.wte.weight) end   -- {B,S,vocab}
  return self.lm_head(h)
end

-- ---------------------------------------------------------------- generate

local GENERATE_OPTIONS = { "temperature", "top_k", "greedy", "seed" }

-- the first index of the largest value
local function argmax(row)
  local best = 1
  for j = 2, #row do if row[j] > row[best] then best = j end end
  return best
end

-- draw from softmax(row / temperature) restricted to the top_k largest
-- (ties broken toward the lower id, so top_k = 1 is argmax), by inverse
-- CDF at u in [0, 1).  In Lua doubles: the rows are one vocabulary long.
local function sample(row, temperature, top_k, u)
  local ids = {}
  for j = 1, #row do ids[j] = j end
  if top_k and top_k < #row then
    table.sort(ids, function(a, b)
      if row[a] ~= row[b] then return row[a] > row[b] end
      return a < b
    end)
    for j = #ids, top_k + 1, -1 do ids[j] = nil end
  end
  local top = -math.huge
  for _, j in ipairs(ids) do if row[j] > top then top = row[j] end end
  local w, total = {}, 0
  for i, j in ipairs(ids) do
    w[i] = math.exp((row[j] - top) / temperature)
    total = total + w[i]
  end
  local target, acc = u * total, 0
  for i, j in ipairs(ids) do
    acc = acc + w[i]
    if target < acc then return j end
  end
  return ids[#ids]
end

-- the checked options of generate
local function generate_options(self, opts)
  if opts == nil then opts = {} end
  util.check_options(self:class_name() .. ": generate", opts, GENERATE_OPTIONS)
  local o = { temperature = opts.temperature, top_k = opts.top_k, greedy = opts.greedy and true or false,
              seed = opts.seed }
  if o.temperature == nil then o.temperature = 1 end
  if type(o.temperature) ~= "number" or not (o.temperature > 0) or o.temperature == math.huge then
    self:fail("generate: temperature must be a positive finite number, got %s (greedy=true for argmax)",
              tostring(o.temperature))
  end
  if o.top_k ~= nil and (math.type(o.top_k) ~= "integer" or o.top_k <= 0) then
    self:fail("generate: top_k must be a positive integer or nil, got %s", tostring(o.top_k))
  end
  if o.seed ~= nil and math.type(o.seed) ~= "integer" then
    self:fail("generate: seed must be an integer, got %s", tostring(o.seed))
  end
  return o
end

-- model:generate(prompt_ids, n, {temperature=1, top_k=nil, greedy=false, seed=nil})
-- -> ids {B, P+n}: the prompt {B, P} (a tensor of 1-based ids, or a Lua
-- list of ids for one sequence) followed by n tokens, each drawn from the
-- model's next-token distribution: argmax if greedy, else softmax(logits /
-- temperature) over the top_k most likely (all if nil), with lunet's
-- generator (seed: lunet.manual_seed(seed) first; otherwise the current
-- generator state, which lunet.manual_seed makes reproducible).
-- The ids come back in the prompt's dtype: int64 for integer ids (int32
-- and uint8 too, which might not hold every id), float32 for float ids or
-- a Lua list, as PyTorch's torch.cat of the prompt and the drawn ids.
-- The prompt is run once through a KV cache, then one token at a time.
-- Runs under lunet.no_grad and in eval mode (each module's training flag
-- is put back after).
function TransformerLM:generate(prompt, n, opts)
  if type(prompt) == "table" and not lunet.is_tensor(prompt) then prompt = lunet.tensor { prompt } end
  if not lunet.is_tensor(prompt) or prompt:dim() ~= 2 or prompt:size(2) < 1 then
    self:fail("generate: prompt must be a {batch, seq} tensor of token ids with seq >= 1, got %s",
              lunet.is_tensor(prompt) and Module.shape_str(prompt) or type(prompt))
  end
  if math.type(n) ~= "integer" or n < 0 then
    self:fail("generate: n must be a non-negative integer, got %s", tostring(n))
  end
  local o = generate_options(self, opts)
  local B, P = prompt:size(1), prompt:size(2)
  if self.wpe and P + n > self.max_len then
    self:fail("generate: prompt length %d + %d new tokens = %d exceeds max_len %d",
              P, n, P + n, self.max_len)
  end
  if o.seed then lunet.manual_seed(o.seed) end
  local rows = prompt:totable()
  -- eval mode and no grad until the end, error or not (the error passes
  -- through untouched)
  local _ <close> = util.eval_mode(self)
  local _ <close> = util.grad_mode(false)
  local cache = self:new_cache { capacity = P + n }
  local logits = self(prompt, nil, { cache = cache })                 -- prefill: {B,P,V}
  for step = 1, n do
    local last = logits:select(2, logits:size(2)):totable()          -- {B,V}
    local u = (not o.greedy) and lunet.rand { B }:totable()
    local next_ids = {}
    for b = 1, B do
      local id = o.greedy and argmax(last[b]) or sample(last[b], o.temperature, o.top_k, u[b])
      rows[b][P + step] = id
      next_ids[b] = { id }
    end
    if step < n then logits = self(lunet.tensor(next_ids), nil, { cache = cache }) end
  end
  return lunet.tensor(rows, { dtype = prompt.dtype == "float32" and "float32" or "int64" })
end

return TransformerLM
