-- nn.LayerNorm{normalized_shape, eps=1e-5, elementwise_affine=true, bias=true}:
-- normalises over the last dim (of size normalized_shape), then scales and
-- shifts.
local lunet = require "lunet"
local Module = require "lunet.nn.module"

local layer_norm = Module.op(lunet.layer_norm)

local LayerNorm = Module:extend("LayerNorm", {
  "normalized_shape", "eps", "elementwise_affine", "bias",
  eps = 1e-5, elementwise_affine = true, bias = true,
})

function LayerNorm:init(o)
  self:check_positive(o, "normalized_shape")
  self.normalized_shape, self.eps = o.normalized_shape, o.eps
  self.elementwise_affine = o.elementwise_affine
  if o.elementwise_affine then
    self.weight = Module.Parameter(lunet.ones { o.normalized_shape })
    if o.bias then self.bias = Module.Parameter(lunet.zeros { o.normalized_shape }) end
  end
end

function LayerNorm:forward(x)
  return layer_norm(x, self.weight, self.bias, self.eps)
end

function LayerNorm:extra_repr()
  return string.format("%d, ", self.normalized_shape) ..
         Module.format_options { "eps", self.eps + 0.0, "elementwise_affine", self.elementwise_affine }
end

return LayerNorm
