-- What every toy task shares: option checking, the training and
-- evaluation streams, and turning sampled sequences into tensors.
--
-- A task definition gives
--   name      "mqar", ...
--   options   { key = default, ... } beyond the common ones below
--   setup     function(self) checking options and setting derived fields
--   sample    function(self, rng, split) -> inputs, targets, scored
--             three Lua lists of length seq_len: token ids (1-based),
--             next-token ids, and booleans (is this position scored);
--             split is "train" or "eval".
--
-- Batches are pure functions of (seed, stream, batch number): batch k of
-- the training stream is the same whether or not batches 1..k-1 were
-- made, which is what lets a resumed run see the data it would have seen.
local lunet = require "lunet"
local RNG = require "lunet.data.rng"
local util = require "lunet.util"

local Task = {}
Task.__index = Task

local COMMON = { "vocab_size", "seq_len", "batch_size", "seed", "ignore_index", "lm_targets" }

local TRAIN, EVAL = 1, 2     -- stream numbers

function Task.fail(self, fmt, ...)
  util.fail("data." .. self.name, fmt, ...)
end

-- an integer option >= lo (floats with integral values accepted)
function Task.int(self, key, lo)
  local v = self[key]
  local iv = type(v) == "number" and math.tointeger(v)
  if not iv or iv < lo then
    Task.fail(self, "%s must be an integer >= %d, got %s", key, lo, tostring(v))
  end
  self[key] = iv
  return iv
end

function Task.new(def, opts)
  opts = util.check_options("data." .. def.name, opts, COMMON, def.options) or {}
  local self = setmetatable({ name = def.name, sample = def.sample }, Task)
  for k, v in pairs(opts) do self[k] = v end
  for k, v in pairs(def.options) do
    if self[k] == nil then self[k] = v end
  end
  if self.batch_size == nil then self.batch_size = 32 end
  if self.seed == nil then self.seed = 1 end
  if self.ignore_index == nil then self.ignore_index = 0 end
  Task.int(self, "batch_size", 1)
  local s = self.seed
  if type(s) ~= "number" or not math.tointeger(s) then
    Task.fail(self, "seed must be an integer, got %s", tostring(s))
  end
  self.seed = math.tointeger(s)
  if math.type(self.ignore_index) ~= "integer" and
      not (type(self.ignore_index) == "number" and math.tointeger(self.ignore_index)) then
    Task.fail(self, "ignore_index must be an integer, got %s", tostring(self.ignore_index))
  end
  self.ignore_index = math.tointeger(self.ignore_index)
  self.lm_targets = not not self.lm_targets
  def.setup(self)
  self.index = 0            -- training batches drawn so far
  return self
end

-- the public constructor of a task (data.mqar{...} and the like)
function Task.constructor(def)
  return function(opts) return Task.new(def, opts) end
end

-- B sampled rows -> inputs, targets, mask tensors {B, S}
function Task:make(stream, k)
  local rng = RNG.new(self.seed, stream, k)
  local split = stream == TRAIN and "train" or "eval"
  local B, S = self.batch_size, self.seq_len
  local X, Y, M = {}, {}, {}
  local fill = self.ignore_index
  if self.lm_targets then fill = nil end
  for b = 1, B do
    local x, y, scored = self:sample(rng, split)
    local m = {}
    for j = 1, S do
      if scored[j] then m[j] = 1
      else
        m[j] = 0
        if fill then y[j] = fill end
      end
    end
    X[b], Y[b], M[b] = x, y, m
  end
  return lunet.tensor(X), lunet.tensor(Y), lunet.tensor(M)
end

-- the next training batch: inputs, targets, mask
function Task:batch()
  self.index = self.index + 1
  return self:make(TRAIN, self.index)
end

-- the k-th training batch (k >= 1), without moving the stream
function Task:train_batch(k)
  local ik = type(k) == "number" and math.tointeger(k)
  if not ik or ik < 1 then
    Task.fail(self, "train_batch: k must be an integer >= 1, got %s", tostring(k))
  end
  return self:make(TRAIN, ik)
end

-- the k-th fixed evaluation batch (default 1): a stream separate from
-- training, the same every call
function Task:eval_batch(k)
  k = k or 1
  local ik = type(k) == "number" and math.tointeger(k)
  if not ik or ik < 1 then
    Task.fail(self, "eval_batch: k must be an integer >= 1, got %s", tostring(k))
  end
  return self:make(EVAL, ik)
end

-- restart the training stream (or move it: reset(n) makes the next batch n+1)
function Task:reset(n)
  self.index = n or 0
  return self
end

function Task:__tostring()
  return string.format("data.%s{vocab_size=%d, seq_len=%d, batch_size=%d, seed=%d}",
                       self.name, self.vocab_size, self.seq_len, self.batch_size, self.seed)
end

return Task
