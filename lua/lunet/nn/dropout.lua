-- nn.Dropout{p=0.5}: zeroes elements with probability p and scales the
-- rest by 1/(1-p) while training; the identity in eval mode.
local lunet = require "lunet"
local Module = require "lunet.nn.module"

local dropout = Module.op(lunet.dropout)

local Dropout = Module:extend("Dropout", { "p", p = 0.5 })

function Dropout:init(o)
  if type(o.p) ~= "number" or not (o.p >= 0 and o.p < 1) then
    self:fail("p must be a number in [0, 1), got %s", tostring(o.p))
  end
  self.p = o.p
end

function Dropout:forward(x)
  return dropout(x, self.p, self.training)
end

-- the probability to use now: p while training, else 0 (for fused ops
-- that take a dropout rate, such as lunet.attention)
function Dropout:rate()
  return self.training and self.p or 0
end

function Dropout:extra_repr()
  return Module.format_options { "p", self.p + 0.0 }
end

return Dropout
