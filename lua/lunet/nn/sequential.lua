-- nn.Sequential(m1, m2, ...): applies its modules in turn.
local ModuleList = require "lunet.nn.module_list"

local Sequential = ModuleList:extend("Sequential")

function Sequential:forward(x)
  for _, m in ipairs(self) do x = m(x) end
  return x
end

return Sequential
