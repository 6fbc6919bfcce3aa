-- Modular addition: the equation  a + b = c  with c = (a + b) mod p,
-- one equation per row: inputs  a + b =  and targets  + b = c, and only the
-- last position (whose target is c) is scored.  Numbers 0 .. p-1 are tokens
-- 1 .. p, '+' is p + 1 and '=' is p + 2 (task.plus, task.equals); so
-- vocab_size defaults to p + 2 and seq_len is 4.
--
-- train_frac (default 1) holds out pairs: a fixed shuffle of all p*p pairs
-- (a, b) made from the seed puts the first train_frac of them in the
-- training set and the rest in the evaluation set, the usual "grokking"
-- split.  With train_frac = 1 both streams draw from all pairs.
local Task = require "lunet.data.task"
local RNG = require "lunet.data.rng"

local def = { name = "modadd", options = { p = 97, train_frac = 1 } }

function def.setup(self)
  local p = Task.int(self, "p", 2)
  if self.vocab_size == nil then self.vocab_size = p + 2 end
  Task.int(self, "vocab_size", p + 2)
  if self.seq_len == nil then self.seq_len = 4 end
  if self.seq_len ~= 4 then
    Task.fail(self, "seq_len is 4 (a + b =), got %s", tostring(self.seq_len))
  end
  self.seq_len = 4
  local f = self.train_frac
  if type(f) ~= "number" or not (f > 0 and f <= 1) then
    Task.fail(self, "train_frac must be a number in (0, 1], got %s", tostring(f))
  end
  self.plus, self.equals = p + 1, p + 2
  if f < 1 then
    local n = p * p
    local ntrain = math.floor(f * n + 0.5)
    if ntrain < 1 or ntrain >= n then
      Task.fail(self, "train_frac %s leaves an empty train or eval set of %d pairs", f, n)
    end
    -- pair i (0-based) is a = i // p, b = i % p
    self.pairs = RNG.new(self.seed, 3, 0):distinct(0, n - 1, n)
    self.ntrain = ntrain
  end
end

function def.sample(self, rng, split)
  local p, a, b = self.p, nil, nil
  if self.pairs then
    local i
    if split == "train" then i = self.pairs[rng:int(1, self.ntrain)]
    else i = self.pairs[rng:int(self.ntrain + 1, #self.pairs)] end
    a, b = i // p, i % p
  else
    a, b = rng:int(0, p - 1), rng:int(0, p - 1)
  end
  local c = (a + b) % p
  return { a + 1, self.plus, b + 1, self.equals },
         { self.plus, b + 1, self.equals, c + 1 },
         { false, false, false, true }
end

return Task.constructor(def)
