-- nn.ParameterList{p1, p2, ...}: parameters held in order, named "0",
-- "1", ... as in PyTorch; list[1] is the first, #list counts,
-- list:append(p) adds one.  Each entry becomes a parameter (a leaf that
-- requires grad, sharing the tensor's storage), like nn.Parameter.
local Module = require "lunet.nn.module"

local ParameterList = Module:extend("ParameterList")

function ParameterList:init(ps)
  if ps ~= nil and type(ps) ~= "table" then self:fail("expects a list of tensors, got %s", type(ps)) end
  for _, p in ipairs(ps or {}) do self:append(p) end
end

-- l:append(p) -> l: a parameter added at the end
function ParameterList:append(p)
  local lunet = require "lunet"
  if not lunet.is_tensor(p) then self:fail("entries must be tensors, got %s", type(p)) end
  if not (p.is_leaf and p:requires_grad()) then p = Module.Parameter(p) end
  self:register_parameter(tostring(#self._param_names), p)
  return self
end

function ParameterList:forward()
  self:fail("has no forward: iterate over it")
end

local base_index = Module.__index

function ParameterList.__index(self, k)
  if math.type(k) == "integer" then
    local n = #self._param_names
    if k < 0 then k = k + n + 1 end
    return self._params[tostring(k - 1)]
  end
  return base_index(self, k)
end

function ParameterList.__len(self) return #self._param_names end

return ParameterList
