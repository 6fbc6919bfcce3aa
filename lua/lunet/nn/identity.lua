-- nn.Identity(): returns its input unchanged (any extra arguments are
-- ignored, as in PyTorch): a placeholder where a layer is optional.
local Module = require "lunet.nn.module"

local Identity = Module:extend("Identity")

function Identity:forward(x) return x end

return Identity
