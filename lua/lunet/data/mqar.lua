--[[
Multi-query associative recall, as in the Zoology benchmark (Arora,
Eyuboglu et al. 2023, "Zoology: Measuring and improving recall in
efficient language models", its multiquery_ar generator), with token ids
shifted by one to lunet's 1-based ids.

Each row starts with num_kv_pairs key-value pairs  k1 v1 k2 v2 ... kn vn
(distinct keys from the lower half of the vocabulary, ids 2 .. V/2;
distinct values from the upper half, ids V/2+1 .. V).  The rest of the row
is n query slots at even offsets: each key appears exactly once as a
query, at offset 2*gap after the pairs, the gaps drawn without replacement
from 0 .. (seq_len - 2n)/2 - 1 with probability proportional to
(gap+1)^(power_a - 1) (power_a = 0.01 favours short gaps, 1 is uniform).
The position of a query key is scored and its target is the value paired
with that key.  Other positions hold random tokens (random_non_queries,
the default, as in Zoology) or token 1.

Options (with defaults): vocab_size=128, seq_len=64, num_kv_pairs=8,
power_a=0.01, random_non_queries=true.  Needs seq_len even and
4 * num_kv_pairs <= seq_len, and num_kv_pairs < V/2 keys to draw from.
]]
local Task = require "lunet.data.task"

local def = {
  name = "mqar",
  options = { vocab_size = 128, seq_len = 64, num_kv_pairs = 8, power_a = 0.01,
              random_non_queries = true },
}

function def.setup(self)
  local V = Task.int(self, "vocab_size", 4)
  local S = Task.int(self, "seq_len", 4)
  local n = Task.int(self, "num_kv_pairs", 1)
  if S % 2 ~= 0 then Task.fail(self, "seq_len must be even, got %d", S) end
  if 4 * n > S then
    Task.fail(self, "num_kv_pairs %d needs seq_len >= %d (pairs, then as many query slots), got %d",
              n, 4 * n, S)
  end
  local half = V // 2
  if n > half - 1 or n > V - half then
    Task.fail(self, "num_kv_pairs %d exceeds the %d keys of vocab_size %d (keys are ids 2..%d)",
              n, half - 1, V, half)
  end
  local a = self.power_a
  if type(a) ~= "number" or not (a > 0) then
    Task.fail(self, "power_a must be a number > 0, got %s", tostring(a))
  end
  self.random_non_queries = not not self.random_non_queries
  self.key_range = { 2, half }
  self.value_range = { half + 1, V }
  self.context = 2 * n                    -- tokens of key-value pairs
  local space = (S - 2 * n) // 2
  self.gap_weights = {}
  for i = 1, space do self.gap_weights[i] = i ^ (a - 1) end
end

function def.sample(self, rng)
  local S, n, V, ctx = self.seq_len, self.num_kv_pairs, self.vocab_size, self.context
  local keys = rng:distinct(self.key_range[1], self.key_range[2], n)
  local values = rng:distinct(self.value_range[1], self.value_range[2], n)
  -- S + 1 tokens, so the last input position also has a next token
  local z, label = {}, {}
  for i = 1, n do
    z[2 * i - 1], z[2 * i] = keys[i], values[i]
  end
  local gaps = rng:weighted_distinct(self.gap_weights, n)
  for i = 1, n do
    local pos = ctx + 2 * (gaps[i] - 1) + 1       -- 1-based position of the query
    z[pos] = keys[i]
    label[pos] = values[i]
  end
  for j = ctx + 1, S + 1 do
    if z[j] == nil then z[j] = self.random_non_queries and rng:int(1, V) or 1 end
  end
  local inputs, targets, scored = {}, {}, {}
  for j = 1, S do
    inputs[j] = z[j]
    scored[j] = label[j] ~= nil
    targets[j] = label[j] or z[j + 1]
  end
  return inputs, targets, scored
end

return Task.constructor(def)
