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
local function cache_option(self, opts)
  if opts == nil then return nil end
  if type(opts) ~= "table" then self:fail("options must be a table such as {cache=c}, got %s", type(opts)) end
  for k in pairs(opts) do
    if k ~= "cache" then self:fail("unknown call option '%s' (known: cache)", tostring(k)) end
  end
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

local GENERATE_OPTIONS = { temperature = true, top_k = true, greedy = true, seed = true }

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
  if type(opts) ~= "table" then
    self:fail("generate: options must be a table such as {temperature=0.8, top_k=5}, got %s", type(opts))
  end
  for k in pairs(opts) do
    if not GENERATE_OPTIONS[k] then
      self:fail("generate: unknown option '%s' (temperature, top_k, greedy, seed)", tostring(k))
    end
  end
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
  local modes = {}
  for _, m in ipairs(self:modules()) do modes[m] = m.training end
  self:eval()
  local ok, err = pcall(lunet.no_grad, function()
    local cache = self:new_cache { capacity = P + n }
    local logits = self:forward(prompt, nil, { cache = cache })         -- prefill: {B,P,V}
    for step = 1, n do
      local last = logits:select(2, logits:size(2)):totable()          -- {B,V}
      local u = (not o.greedy) and lunet.rand { B }:totable()
      local next_ids = {}
      for b = 1, B do
        local id = o.greedy and argmax(last[b]) or sample(last[b], o.temperature, o.top_k, u[b])
        rows[b][P + step] = id
        next_ids[b] = { id }
      end
      if step < n then logits = self:forward(lunet.tensor(next_ids), nil, { cache = cache }) end
    end
  end)
  for m, mode in pairs(modes) do m.training = mode end
  if not ok then error(err, 0) end
  return lunet.tensor(rows)
end

return TransformerLM
