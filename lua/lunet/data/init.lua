--[[
lunet.data: toy tasks, generated deterministically from a seed by their own
generator (independent of lunet.manual_seed).

  local task = lunet.data.mqar{vocab_size=128, seq_len=64, num_kv_pairs=8,
                               batch_size=32, seed=1}
  local x, y, mask = task:batch()      -- {B,S} tensors

Every task takes batch_size (32), seed (1), and
  ignore_index (0)   the target at positions that are not scored, which
                     lunet.cross_entropy(logits, y, {ignore_index=0}) skips
  lm_targets (false) true: unscored positions get the next input token
                     instead (a language-model target everywhere)
and returns an object with
  :batch()           next training batch: inputs, targets, mask -- {B,S}
                     tensors of 1-based ids, ids, and 1/0 (scored or not)
  :train_batch(k)    the k-th training batch, without moving the stream
  :eval_batch(k)     the k-th fixed evaluation batch (k defaults to 1),
                     from a stream separate from training's
  :reset(n)          the next :batch() is batch n + 1 (default 0: restart)
  :shard(rank, n)    data parallel: :batch() gives this rank's batch_size/n
                     rows of each batch (rank 0-based; see task.lua)
  .index             training batches drawn so far (resume: task:reset(step))
  .vocab_size, .seq_len, .batch_size, .seed, .name
Tasks:
  mqar{num_kv_pairs=8, power_a=0.01, random_non_queries=true, vocab_size=128, seq_len=64}
  copy{vocab_size=16, seq_len=32}, reverse{...}, sort{...}  (.sep = 1)
  modadd{p=97, train_frac=1}  (seq_len 4, vocab_size p+2, .plus, .equals)
  char_lm(path, {seq_len=64, split=0.9}) or char_lm{text=..., ...}
    (:encode(s), :decode(ids), .chars)
data.make(name, opts) builds a task by name (data.tasks lists the names).
]]
local sequence = require "lunet.data.sequence"
local util = require "lunet.util"

local data = {
  mqar = require "lunet.data.mqar",
  copy = sequence.copy,
  reverse = sequence.reverse,
  sort = sequence.sort,
  modadd = require "lunet.data.modadd",
  char_lm = require "lunet.data.char_lm",
  tasks = { "mqar", "copy", "reverse", "sort", "modadd", "char_lm" },
}

-- a task by name, for command-line flags (char_lm takes opts.path)
function data.make(name, opts)
  local f = type(name) == "string" and name ~= "make" and data[name]
  if type(f) ~= "function" then
    local near = util.did_you_mean(tostring(name), data.tasks)
    util.fail("data.make", "unknown task '%s' (one of %s)%s", tostring(name),
              table.concat(data.tasks, ", "), near and " (did you mean '" .. near .. "'?)" or "")
  end
  if name == "char_lm" then
    opts = opts or {}
    local o = {}
    for k, v in pairs(opts) do if k ~= "path" then o[k] = v end end
    if opts.path then return f(opts.path, o) end
    return f(o)
  end
  return f(opts)
end

return data
