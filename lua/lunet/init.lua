-- lunet: the Lua face of the C core.  Everything the core exports is
-- re-exported here (lunet.core also builds the Tensor metatable, methods
-- and printing included); the Lua-side pieces (gradcheck, nn, optim, data,
-- profile) are added on top.
local core = require "lunet.core"

local lunet = {}
for k, v in pairs(core) do lunet[k] = v end

lunet.Tensor = core.Tensor            -- the method table: add methods here
lunet._VERSION = "lunet 0.1.0"

lunet.gradcheck = require("lunet.gradcheck")(lunet)

-- Lazily loaded parts, so `require "lunet"` stays cheap: name -> the
-- module that provides it, and the field of that module (nil: the module).
local lazy = {
  nn = { "lunet.nn" }, optim = { "lunet.optim" }, data = { "lunet.data" },
  profile = { "lunet.profile" }, train = { "lunet.train" }, autograd = { "lunet.autograd" },
  compare = { "lunet.compare" }, sweep = { "lunet.sweep" }, plot = { "lunet.plot" },
  distributed = { "lunet.distributed" }, progress = { "lunet.progress" }, cli = { "lunet.cli" },
  inspect = { "lunet.inspect", "inspect" },
  save_checkpoint = { "lunet.checkpoint", "save_checkpoint" },
  load_checkpoint = { "lunet.checkpoint", "load_checkpoint" },
}
setmetatable(lunet, {
  __lazy = lazy,             -- the names, for completion and lunet.doc
  __index = function(t, k)
    local where = lazy[k]
    if where then
      local m = require(where[1])
      local v = where[2] and m[where[2]] or m
      rawset(t, k, v)
      return v
    end
  end,
})

return lunet
