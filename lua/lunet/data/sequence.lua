-- copy, reverse and sort: a random sequence, a separator, then the
-- sequence transformed.  With n = seq_len / 2 the full sequence is
--   x1 .. xn  SEP  y1 .. yn         (2n + 1 tokens)
-- inputs are its first 2n tokens, targets the last 2n (next token), and
-- the n positions whose targets are y1 .. yn are scored.  Token 1 is the
-- separator (task.sep); content tokens are 2 .. vocab_size, drawn
-- uniformly with replacement.
local Task = require "lunet.data.task"

local function setup(self)
  Task.int(self, "vocab_size", 3)
  Task.int(self, "seq_len", 2)
  if self.seq_len % 2 ~= 0 then
    Task.fail(self, "seq_len must be even (n tokens, then their %s), got %d",
              self.name, self.seq_len)
  end
  self.sep = 1
  self.length = self.seq_len // 2
end

local transforms = {
  copy = function(x) return x end,
  reverse = function(x)
    local y, n = {}, #x
    for i = 1, n do y[i] = x[n + 1 - i] end
    return y
  end,
  sort = function(x)
    local y = table.move(x, 1, #x, 1, {})
    table.sort(y)
    return y
  end,
}

local function make(name)
  local transform = transforms[name]
  local def = {
    name = name,
    options = { vocab_size = 16, seq_len = 32 },
    setup = setup,
  }
  function def.sample(self, rng)
    local n, V = self.length, self.vocab_size
    local x = {}
    for i = 1, n do x[i] = rng:int(2, V) end
    local y = transform(x)
    local z = table.move(x, 1, n, 1, {})
    z[n + 1] = self.sep
    table.move(y, 1, n, n + 2, z)
    local inputs, targets, scored = table.move(z, 1, 2 * n, 1, {}), table.move(z, 2, 2 * n + 1, 1, {}), {}
    for j = 1, 2 * n do scored[j] = j > n end
    return inputs, targets, scored
  end
  return Task.constructor(def)
end

return { copy = make("copy"), reverse = make("reverse"), sort = make("sort") }
