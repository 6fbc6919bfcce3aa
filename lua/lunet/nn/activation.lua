-- The activation layers nn.GELU{approximate='none'}, nn.SiLU, nn.ReLU:
-- modules wrapping the elementwise ops, for use in Sequential.
local lunet = require "lunet"
local Module = require "lunet.nn.module"

local gelu, silu, relu = Module.op(lunet.gelu), Module.op(lunet.silu), Module.op(lunet.relu)

local GELU = Module:extend("GELU", { "approximate", approximate = "none" })

function GELU:init(o)
  if o.approximate ~= "none" and o.approximate ~= "tanh" then
    self:fail("approximate must be 'none' or 'tanh', got %s", tostring(o.approximate))
  end
  self.approximate = o.approximate
end

function GELU:forward(x) return gelu(x, self.approximate) end

function GELU:extra_repr()
  return self.approximate == "none" and "" or Module.format_options { "approximate", self.approximate }
end

local SiLU = Module:extend("SiLU", {})
function SiLU:forward(x) return silu(x) end

local ReLU = Module:extend("ReLU", {})
function ReLU:forward(x) return relu(x) end

return { GELU = GELU, SiLU = SiLU, ReLU = ReLU }
