-- nn.Softmax{dim=-1} and nn.LogSoftmax{dim=-1}: the softmax family as
-- modules (the fused, stable kernels of x:softmax / x:log_softmax).
local Module = require "lunet.nn.module"

local function family(name, method)
  local cls = Module:extend(name, { "dim", dim = -1 })
  function cls:init(o)
    if math.type(o.dim) ~= "integer" then self:fail("dim must be an integer, got %s", tostring(o.dim)) end
    self.dim = o.dim
  end
  function cls:forward(x) return x[method](x, self.dim) end
  function cls:extra_repr() return Module.format_options { "dim", self.dim } end
  return cls
end

return { Softmax = family("Softmax", "softmax"), LogSoftmax = family("LogSoftmax", "log_softmax") }
