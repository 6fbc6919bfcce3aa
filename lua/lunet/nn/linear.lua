-- nn.Linear{in_features, out_features, bias=true}: y = x W^T + b.
local lunet = require "lunet"
local Module = require "lunet.nn.module"

local linear = Module.op(lunet.linear)

local Linear = Module:extend("Linear", { "in_features", "out_features", "bias", bias = true })

function Linear:init(o)
  self:check_positive(o, "in_features", "out_features")
  self.in_features, self.out_features = o.in_features, o.out_features
  -- PyTorch's default: weight and bias uniform in +-1/sqrt(in_features)
  local bound = 1 / math.sqrt(o.in_features)
  self.weight = Module.Parameter(lunet.uniform({ o.out_features, o.in_features }, -bound, bound))
  if o.bias then
    self.bias = Module.Parameter(lunet.uniform({ o.out_features }, -bound, bound))
  end
end

-- x {..., in_features} -> {..., out_features}
function Linear:forward(x)
  return linear(x, self.weight, self.bias)
end

function Linear:extra_repr()
  return Module.format_options { "in_features", self.in_features, "out_features", self.out_features,
                                 "bias", self.bias ~= nil }
end

return Linear
