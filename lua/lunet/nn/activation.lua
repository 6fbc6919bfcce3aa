-- The activation layers nn.GELU{approximate='none'}, nn.SiLU, nn.ReLU:
-- modules wrapping the elementwise ops, for use in Sequential.
local Module = require "lunet.nn.module"

local GELU = Module:extend("GELU", { "approximate", approximate = "none" })

function GELU:init(o)
  if o.approximate ~= "none" and o.approximate ~= "tanh" then
    self:fail("approximate must be 'none' or 'tanh', got %s", tostring(o.approximate))
  end
  self.approximate = o.approximate
end

function GELU:forward(x) return x:gelu(self.approximate) end

function GELU:extra_repr()
  return self.approximate == "none" and "" or Module.format_options { "approximate", self.approximate }
end

local SiLU = Module:extend("SiLU", {})
function SiLU:forward(x) return x:silu() end

local ReLU = Module:extend("ReLU", {})
function ReLU:forward(x) return x:relu() end

return { GELU = GELU, SiLU = SiLU, ReLU = ReLU }
