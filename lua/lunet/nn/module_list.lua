-- nn.ModuleList{m1, m2, ...} (or ModuleList(m1, m2, ...)): holds modules
-- in order.  list[1] is the first, #list the count, ipairs(list) walks
-- them; they are named "0", "1", ... in parameter names, as in PyTorch,
-- so checkpoints interchange ("blocks.0.attn.query.weight").
local Module = require "lunet.nn.module"

local ModuleList = Module:extend("ModuleList")

function ModuleList:init(...)
  local mods = { ... }
  if select("#", ...) == 1 and type(mods[1]) == "table" and not Module.is_module(mods[1]) then
    mods = mods[1]
  end
  for _, m in ipairs(mods) do self:append(m) end
end

-- l:append(m) -> l: m added at the end (named by its 0-based position)
function ModuleList:append(m)
  self:add_module(tostring(#self._module_names), m)
  return self
end

function ModuleList:forward()
  self:fail("has no forward: iterate over it")
end

-- 1-based (or negative, from the end) position -> the module's name
local function slot(self, k)
  local n = #self._module_names
  if k < 0 then k = k + n + 1 end
  return tostring(k - 1), k >= 1 and k <= n + 1
end

local base_index, base_newindex = Module.__index, Module.__newindex

function ModuleList.__index(self, k)
  if math.type(k) == "integer" then return self._modules[(slot(self, k))] end
  return base_index(self, k)
end

-- list[i] = m replaces the i-th module; list[#list + 1] = m appends
function ModuleList.__newindex(self, k, v)
  if math.type(k) == "integer" then
    local name, ok = slot(self, k)
    if not ok or not Module.is_module(v) then
      self:fail("can only assign a module to positions 1 .. %d, got %s at %d",
                #self._module_names + 1, type(v), k)
    end
    return self:add_module(name, v)
  end
  return base_newindex(self, k, v)
end

function ModuleList.__len(self)
  return #self._module_names
end

return ModuleList
