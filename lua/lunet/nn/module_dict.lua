-- nn.ModuleDict{name = module, ...}: modules by name, registered under
-- those names (so "heads.qa.weight" in state_dict).  A table's order is
-- not Lua's to keep, so the names are registered sorted; add more with
-- d.name = m or d:add_module(name, m).  d:keys() lists the names in order,
-- d:items() iterates name, module; d:contains(name); #d counts.
local Module = require "lunet.nn.module"

local ModuleDict = Module:extend("ModuleDict")

function ModuleDict:init(mods)
  if mods ~= nil and (type(mods) ~= "table" or Module.is_module(mods)) then
    self:fail("expects a table of name = module, got %s", type(mods))
  end
  local names = {}
  for k in pairs(mods or {}) do
    if type(k) ~= "string" then self:fail("names must be strings, got %s", type(k)) end
    names[#names + 1] = k
  end
  table.sort(names)
  for _, k in ipairs(names) do
    if not Module.is_module(mods[k]) then self:fail("'%s' is %s, not a module", k, type(mods[k])) end
    self:add_module(k, mods[k])
  end
end

function ModuleDict:forward()
  self:fail("has no forward: index it by name")
end

-- d:keys() -> the names, sorted
function ModuleDict:keys()
  return table.move(self._module_names, 1, #self._module_names, 1, {})
end

-- d:contains(name) -> whether a module is held under name
function ModuleDict:contains(name) return self._modules[name] ~= nil end

-- for name, m in d:items() do ... end
function ModuleDict:items() return self:named_children() end

function ModuleDict.__len(self) return #self._module_names end

return ModuleDict
