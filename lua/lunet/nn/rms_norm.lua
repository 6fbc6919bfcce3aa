-- nn.RMSNorm{normalized_shape, eps=1e-6, elementwise_affine=true}:
-- x / sqrt(mean(x^2) + eps) over the last dim, then scaled.
local lunet = require "lunet"
local Module = require "lunet.nn.module"

local rms_norm = Module.op(lunet.rms_norm)

local RMSNorm = Module:extend("RMSNorm", {
  "normalized_shape", "eps", "elementwise_affine", eps = 1e-6, elementwise_affine = true,
})

function RMSNorm:init(o)
  self:check_positive(o, "normalized_shape")
  self.normalized_shape, self.eps = o.normalized_shape, o.eps
  self.elementwise_affine = o.elementwise_affine
  if o.elementwise_affine then
    self.weight = Module.Parameter(lunet.ones { o.normalized_shape })
  end
end

function RMSNorm:forward(x)
  return rms_norm(x, self.weight, self.eps)
end

function RMSNorm:extra_repr()
  return string.format("%d, ", self.normalized_shape) ..
         Module.format_options { "eps", self.eps + 0.0, "elementwise_affine", self.elementwise_affine }
end

return RMSNorm
