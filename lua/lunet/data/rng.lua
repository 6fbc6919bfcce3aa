-- A small deterministic generator for the toy tasks: SplitMix64 on Lua 5.4
-- integers (64-bit, wrapping).  Tasks own their generators, so their data
-- never depends on lunet.manual_seed or on what else drew random numbers,
-- and is the same on every machine.
local RNG = {}
RNG.__index = RNG

local GOLDEN = 0x9E3779B97F4A7C15   -- hex literals wrap to 64-bit integers

local function mix(z)
  z = (z ~ (z >> 30)) * 0xBF58476D1CE4E5B9
  z = (z ~ (z >> 27)) * 0x94D049BB133111EB
  return z ~ (z >> 31)
end

-- a generator for (seed, stream, index): each batch of each stream has its
-- own, so batch k can be made without making batches 1..k-1
function RNG.new(seed, stream, index)
  return setmetatable({ s = mix(mix(mix(seed) + (stream or 0)) + (index or 0)) }, RNG)
end

function RNG:next()
  self.s = self.s + GOLDEN
  return mix(self.s)
end

-- uniform in [0, 1), 53 random bits
function RNG:uniform()
  return (self:next() >> 11) * 0x1.0p-53
end

-- uniform integer in [lo, hi]
function RNG:int(lo, hi)
  return lo + math.floor(self:uniform() * (hi - lo + 1))
end

-- k distinct integers from [lo, hi], in random order (partial Fisher-Yates
-- over a lazily filled table, so the range may be large)
function RNG:distinct(lo, hi, k)
  local moved, out = {}, {}
  local n = hi - lo + 1
  for i = 0, k - 1 do
    local j = i + math.floor(self:uniform() * (n - i))
    local vj, vi = moved[j] or j, moved[i] or i
    moved[j], moved[i] = vi, vj
    out[i + 1] = lo + vj
  end
  return out
end

-- k distinct indices 1..#w drawn without replacement, each with
-- probability proportional to its weight among those left
function RNG:weighted_distinct(w, k)
  local left, out, total = {}, {}, 0
  for i = 1, #w do left[i] = w[i]; total = total + w[i] end
  for n = 1, k do
    local u, pick = self:uniform() * total, nil
    for i = 1, #left do
      if left[i] > 0 then
        pick = i
        u = u - left[i]
        if u < 0 then break end
      end
    end
    out[n] = pick
    total = total - left[pick]
    left[pick] = 0
  end
  return out
end

RNG.mix = mix
return RNG
