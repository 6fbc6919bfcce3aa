-- nn.RotaryEmbedding{dim, base=10000, max_len=512, interleaved=true, seed_layout=true}:
-- rotary position embedding over the last dim (dim = the head dim) of
-- x {..., S, dim}, by the fused op lunet.rope:
--
--   out = x * cos_table + rot(x) * sin_table
--
-- with angle[pos][i] = pos * base^(-2i/dim) for i < dim/2 and
--   interleaved = true:  pairs (2i, 2i+1); rot(x) = (-x2, x1, -x4, x3, ...),
--                        tables repeat each angle twice (a0 a0 a1 a1 ...)
--   interleaved = false: the GPT-NeoX/Llama halves; rot(x) = cat(-x_hi, x_lo),
--                        tables are cat(angles, angles)
--
-- seed_layout = true reproduces seed 002's RotaryEmbedding exactly: its
-- table named cos holds sin(angle) and the one named sin holds cos(angle),
-- so what it applies is not a rotation (at position 0 it gives rot(x), not
-- x) -- but it is what the seed computes, and a model trained with it
-- learns around it.  seed_layout = false is the standard RoPE (cos table =
-- cos, sin table = sin): position 0 is the identity and q.k depends only
-- on the relative position.
--
-- The tables are not parameters (nor in the state dict, as in the seed);
-- they grow on demand, so sequences longer than max_len work.
local lunet = require "lunet"
local Module = require "lunet.nn.module"

local rope = Module.op(lunet.rope)

local RotaryEmbedding = Module:extend("RotaryEmbedding", {
  "dim", "base", "max_len", "interleaved", "seed_layout",
  base = 10000, max_len = 512, interleaved = true, seed_layout = true,
})

function RotaryEmbedding:init(o)
  self:check_positive(o, "dim", "max_len")
  if o.dim % 2 ~= 0 then self:fail("dim must be even, got %d", o.dim) end
  if type(o.base) ~= "number" or o.base <= 0 then
    self:fail("base must be a positive number, got %s", tostring(o.base))
  end
  self.dim, self.base, self.max_len = o.dim, o.base, o.max_len
  self.interleaved, self.seed_layout = o.interleaved and true or false, o.seed_layout and true or false
  self:build_tables(o.max_len)
end

-- cos_table and sin_table {n, dim} for positions 0 .. n-1, computed in
-- float32 step by step as the seed does (so the tables agree with its to
-- the last bit or so)
function RotaryEmbedding:build_tables(n)
  lunet.no_grad(function()
    local half = self.dim // 2
    local theta = 1 / lunet.pow(self.base, lunet.arange(0, self.dim, 2) / self.dim)  -- {half}
    local angles = lunet.arange(n):view { n, 1 } * theta:view { 1, half }            -- {n, half}
    local c, s = angles:cos(), angles:sin()
    if self.seed_layout then c, s = s, c end
    local function widen(t)                                                           -- {n, dim}
      if self.interleaved then return lunet.stack({ t, t }, -1):view { n, self.dim } end
      return lunet.cat({ t, t }, -1)
    end
    self.cos_table, self.sin_table = widen(c), widen(s)
  end)
  self.table_len = n
end

-- x {..., S, dim}; positions offset .. offset+S-1 (offset > 0 when
-- decoding with a KV cache)
function RotaryEmbedding:forward(x, offset)
  offset = offset or 0
  if x:dim() < 2 or x:size(-1) ~= self.dim then
    self:fail("input %s must be {..., seq, %d}", Module.shape_str(x), self.dim)
  end
  if math.type(offset) ~= "integer" or offset < 0 then
    self:fail("offset must be a non-negative integer, got %s", tostring(offset))
  end
  local S = x:size(-2)
  if offset + S > self.table_len then
    self:build_tables(math.max(offset + S, 2 * self.table_len))
  end
  local cos = self.cos_table:narrow(1, offset + 1, S)   -- {S, dim}
  local sin = self.sin_table:narrow(1, offset + 1, S)
  return rope(x, cos, sin, self.interleaved)
end

function RotaryEmbedding:extra_repr()
  return Module.format_options { "dim", self.dim, "base", self.base, "max_len", self.max_len,
                                 "interleaved", self.interleaved, "seed_layout", self.seed_layout }
end

return RotaryEmbedding
