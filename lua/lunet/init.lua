-- lunet: the Lua face of the C core.  Everything the core exports is
-- re-exported here; the Lua-side pieces (printing, gradcheck, nn, optim,
-- data, profile) are added on top.
local core = require "lunet.core"

local lunet = {}
for k, v in pairs(core) do lunet[k] = v end

lunet.Tensor = core.Tensor            -- the method table: add methods here
lunet._VERSION = "lunet 0.1.0"

require("lunet.tensor_print")(lunet)
lunet.gradcheck = require("lunet.gradcheck")(lunet)

-- Lazily loaded submodules, so `require "lunet"` stays cheap.
local submodules = { nn = true, optim = true, data = true, profile = true }
setmetatable(lunet, {
  __index = function(t, k)
    if submodules[k] then
      local m = require("lunet." .. k)
      rawset(t, k, m)
      return m
    end
  end,
})

return lunet
