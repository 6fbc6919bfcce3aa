-- What every attention module shares: input and mask checks, splitting
-- and merging heads, the call into the fused attention op, and the KV
-- cache used for decoding.
local lunet = require "lunet"
local Module = require "lunet.nn.module"
local util = require "lunet.util"

local heads = {}

local attention = Module.op(lunet.attention)

-- ---------------------------------------------------------------- sizes

-- Fewer query/key dims per head than this and a head cannot tell many
-- keys apart (attention goes flat): a configuration that cannot work well.
heads.MIN_HEAD_DIM = 8

-- The warnings for a head of `dim` query/key content dims (what names
-- them) and, when given, a latent of `latent` dims (latent_name) that
-- should be no wider than `limit` (limit_name); a list, empty if none.
function heads.width_warnings(dim, what, latent, latent_name, limit, limit_name)
  local w = {}
  if dim < heads.MIN_HEAD_DIM then
    w[1] = string.format("%s %d gives fewer than %d content dims per head: attention cannot "
                         .. "tell keys apart well", what, dim, heads.MIN_HEAD_DIM)
  end
  if latent and latent > limit then
    w[#w + 1] = string.format("%s %d is wider than %s %d: the latent does not compress", latent_name,
                              latent, limit_name, limit)
  end
  return w
end

-- util.warn each of m:size_warnings(), prefixed by the class
function heads.warn(m)
  for _, w in ipairs(m:size_warnings()) do util.warn(m:class_name() .. ": " .. w) end
end

-- ---------------------------------------------------------------- inputs

-- x must be {B, S, width}
function heads.check_input(m, x, width, what)
  if not lunet.is_tensor(x) then m:fail("input must be a tensor, got %s", type(x)) end
  if x:dim() ~= 3 then
    m:fail("input %s must be {batch, seq, %d}", Module.shape_str(x), width)
  end
  if x:size(3) ~= width then
    m:fail("input width %d does not match %s %d", x:size(3), what, width)
  end
end

-- the seeds' padding mask: nil, or {B, S} with 1 = keep, 0 = masked key.
-- With a KV cache it covers every key, cached and new: {B, T}.
function heads.check_mask(m, mask, B, S, cached)
  if mask == nil then return end
  if not lunet.is_tensor(mask) then m:fail("mask must be a tensor {batch, seq}, got %s", type(mask)) end
  local shape = mask:shape()
  if #shape ~= 2 or shape[1] ~= B or shape[2] ~= S then
    m:fail("mask has shape %s, expected {%d,%d} (batch, %s)", Module.shape_str(mask), B, S,
           cached and "cached + new positions" or "seq")
  end
end

-- the call options {causal=true, cache=c}: nil or a table (a typo like
-- casual=true must not pass silently)
local CALL_OPTIONS = { "causal", "cache" }

function heads.causal(m, opts)
  if opts == nil then return false end
  util.check_options(m:class_name(), opts, CALL_OPTIONS)
  return opts.causal and true or false
end

-- the call option cache=: nil, or a cache made by this very module's
-- new_cache() (a cache belongs to one layer: another's would be garbage)
function heads.cache(m, opts)
  heads.causal(m, opts)   -- opts must be nil or a table
  local c = opts and opts.cache
  if c == nil then return nil end
  if getmetatable(c) ~= heads.Cache then
    m:fail("cache must be a KV cache from new_cache(), got %s", type(c))
  end
  if c.owner ~= m then
    m:fail("cache was made by another module (a %s), not this one", c.owner:class_name())
  end
  return c
end

-- {B, S, n*D} -> {B, n, S, D} (a view)
function heads.split(t, n)
  local B, S, W = t:size(1), t:size(2), t:size(3)
  return t:view { B, S, n, W // n }:transpose(2, 3)
end

-- {B, H, S, D} -> {B, S, H*D}
function heads.merge(t)
  local B, H, S, D = t:size(1), t:size(2), t:size(3), t:size(4)
  return t:transpose(2, 3):reshape { B, S, H * D }
end

-- softmax(q k^T * scale [masked]) v by the fused op, with the module's
-- attention dropout (m.dropout, a Dropout) while training.  q {B,H,S,D},
-- k {B,Hk,T,D}, v {B,Hk,T,Dv}: Hk divides H and the op shares each kv
-- head among H/Hk query heads itself.  The queries are the last S of the
-- T positions (S < T when decoding with a cache: causal query i sees
-- keys j <= i + T - S).  scale nil means 1/sqrt(D).
-- A query whose keys are all masked gets all-zero weights from the op (so
-- a zero context and zero gradients; PyTorch would give NaN there).
--
-- With m.output_attentions set, the weights are also kept, detached, in
-- m.attention_weights (see heads.weights).
function heads.attend(m, q, k, v, mask, causal, scale)
  if m.output_attentions then m.attention_weights = heads.weights(q, k, mask, causal, scale) end
  return attention(q, k, v, {
    mask = mask, causal = causal, scale = scale, dropout = m.dropout:rate(),
  })
end

-- The attention weights the fused op uses, written out: {B,H,S,T},
-- softmax(q k^T * scale) over the kept keys (before attention dropout),
-- and all zeros for a query whose keys are all masked, as the op gives it.
-- Detached: for looking at (attention maps), not for training.
function heads.weights(q, k, mask, causal, scale)
  return lunet.no_grad(function()
    local B, H, S, D = q:size(1), q:size(2), q:size(3), q:size(4)
    local Hk, T = k:size(2), k:size(3)
    k = k:unsqueeze(3):expand { B, Hk, H // Hk, T, D }:reshape { B, H, T, D }
    local scores = q:matmul(k:transpose(3, 4)) * (scale or 1 / math.sqrt(D))
    if mask ~= nil then scores = scores:masked_fill(mask:eq(0):view { B, 1, 1, T }, -math.huge) end
    if causal then   -- key j is in query i's future when j > i + T - S (0-based)
      local future = lunet.arange(S):view { S, 1 }:lt(lunet.arange(T):view { 1, T } - (T - S))
      scores = scores:masked_fill(future, -math.huge)
    end
    local w = scores:softmax(-1)
    return w:masked_fill(w:isnan(), 0)
  end)
end

-- ---------------------------------------------------------------- KV cache

-- A decoding cache for ONE attention layer: what the layer keeps of each
-- position it has seen, so a new token attends to them without
-- recomputing them.  Each layer says what it keeps as a list of streams
-- {name, n, width}, each held in a buffer {B, n, capacity, width} (n
-- heads of width floats per position): MHA/MQA/GQA keep k and v, MLA one
-- stream with its latent and shared RoPE key side by side.
--
--   cache.length              positions held
--   cache:floats_per_token()  floats kept per position of one sequence
--                             (the layer's kv_floats_per_token())
--   cache:tensors()           name -> its buffer (capacity >= length)
--   cache:view(name)          the held positions {B, n, length, width}
--   cache:reset()             forget every position (keeps the buffers)
--
-- Appending copies the new positions into the buffers and returns views
-- over all positions, which the attention reads in place (each head's
-- rows stay contiguous).  A full buffer is reallocated at twice the size,
-- so T positions cost O(T) copying in all, where lunet.cat of the growing
-- tensors would copy O(T^2); new_cache{capacity=N} sizes it once
-- (generate does).  The cache keeps data, not graph: gradients do not
-- flow into cached positions, so it is for inference (lunet.no_grad).
local Cache = { __name = "KVCache" }
Cache.__index = Cache
heads.Cache = Cache

-- owner: the module; streams: list of {name, n, width}; opts {capacity=}
function heads.new_cache(owner, streams, opts)
  util.check_options(owner:class_name() .. ": new_cache", opts, { "capacity" })
  local cap = opts and opts.capacity or 0
  if math.type(cap) ~= "integer" or cap < 0 then
    owner:fail("cache capacity must be a non-negative integer, got %s", tostring(cap))
  end
  return setmetatable({ owner = owner, streams = streams, length = 0, capacity = cap,
                        buffers = {} }, Cache)
end

function Cache:floats_per_token()
  local n = 0
  for _, s in ipairs(self.streams) do n = n + s[2] * s[3] end
  return n
end

function Cache:tensors()
  local t = {}
  for _, s in ipairs(self.streams) do t[s[1]] = self.buffers[s[1]] end
  return t
end

function Cache:view(name)
  local b = self.buffers[name]
  if b == nil or self.length == 0 then return nil end
  return b:narrow(3, 1, self.length)
end

function Cache:reset()
  self.length = 0
  return self
end

function Cache:__tostring()
  local parts = {}
  for _, s in ipairs(self.streams) do parts[#parts + 1] = string.format("%s %dx%d", s[1], s[2], s[3]) end
  return string.format("KVCache(%s: %s; length %d, %d floats per token)", self.owner:class_name(),
                       table.concat(parts, ", "), self.length, self:floats_per_token())
end

-- (re)allocate the buffers for cap positions of B sequences, keeping
-- what they hold
local function grow(self, B, cap)
  lunet.no_grad(function()
    for _, s in ipairs(self.streams) do
      local old, new = self.buffers[s[1]], lunet.zeros { B, s[2], cap, s[3] }
      if old ~= nil and self.length > 0 then
        new:narrow(3, 1, self.length):copy_(old:narrow(3, 1, self.length))
      end
      self.buffers[s[1]] = new
    end
  end)
  self.capacity, self.batch = cap, B
end

-- append S new positions: one tensor {B, n, S, width} per stream, in the
-- streams' order.  Returns, per stream, a view {B, n, length, width} of
-- every position held.
function Cache:append(...)
  local new = { ... }
  local B, S = new[1]:size(1), new[1]:size(3)
  for i, s in ipairs(self.streams) do
    local t = new[i]
    if t:dim() ~= 4 or t:size(1) ~= B or t:size(2) ~= s[2] or t:size(3) ~= S or t:size(4) ~= s[3] then
      self.owner:fail("cache: %s %s does not fit {%d,%d,%d,%d}", s[1], Module.shape_str(t), B, s[2], S, s[3])
    end
  end
  if self.length > 0 and B ~= self.batch then
    self.owner:fail("cache holds a batch of %d sequences, got a batch of %d", self.batch, B)
  end
  local T = self.length + S
  if B ~= self.batch then
    grow(self, B, math.max(T, self.capacity))
  elseif T > self.capacity then
    grow(self, B, math.max(T, 2 * self.capacity))
  end
  local out = {}
  lunet.no_grad(function()
    for i, s in ipairs(self.streams) do
      local b = self.buffers[s[1]]
      b:narrow(3, self.length + 1, S):copy_(new[i])
      out[i] = b:narrow(3, 1, T)
    end
  end)
  self.length = T
  return table.unpack(out)
end

return heads
