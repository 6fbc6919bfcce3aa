-- nn.MLP{in_features, hidden_features, out_features=in_features, bias=true,
--   approximate='none'}: Linear, GELU, Linear -- a Sequential of those
--   three (parameters 0.weight, 0.bias, 2.weight, 2.bias, as the
--   transformer's mlp has always had), run as one fused op, lunet.mlp,
--   which keeps only the pre-activation for backward.
--
-- While its children are still a Linear, a GELU and a Linear without
-- forward hooks, forward is lunet.mlp(x, W1, b1, W2, b2); otherwise (a
-- child replaced, a hook that must see its child's output) it runs the
-- children in turn, as any Sequential.  mlp(x, r) is r + mlp(x), the
-- residual add of a transformer block inside the fused op.
local lunet = require "lunet"
local Module = require "lunet.nn.module"
local Linear = require "lunet.nn.linear"
local Sequential = require "lunet.nn.sequential"
local GELU = require("lunet.nn.activation").GELU

local mlp = Module.op(lunet.mlp)
local profiling = Module._profiling
local TANH = { approximate = "tanh" }

local MLP = Sequential:extend("MLP", {
  "in_features", "hidden_features", "out_features", "bias", "approximate",
  out_features = Module.AUTO, bias = true, approximate = "none",
})

function MLP:init(o)
  local out = o.out_features or o.in_features
  Sequential.init(self, Linear { o.in_features, o.hidden_features, bias = o.bias },
                  GELU(o.approximate), Linear { o.hidden_features, out, bias = o.bias })
end

-- the three children, when the fused op can stand for them
local function fusable(self)
  local fc, act, proj = self[1], self[2], self[3]
  if #self ~= 3 or getmetatable(fc) ~= Linear or getmetatable(act) ~= GELU
     or getmetatable(proj) ~= Linear or rawget(fc, "_hooks") or rawget(act, "_hooks")
     or rawget(proj, "_hooks") then
    return nil
  end
  return fc, act, proj
end

-- mlp(x [, residual]): with a residual r (the output's shape), r + mlp(x),
-- the add folded into the fused op's second product (no tensor of its own)
function MLP:forward(x, residual)
  local fc, act, proj = fusable(self)
  if not fc then
    local y = Sequential.forward(self, x)
    if residual ~= nil then return residual + y end
    return y
  end
  local opts = act.approximate == "tanh" and TANH or nil
  if residual ~= nil then opts = { approximate = act.approximate, residual = residual } end
  if profiling.fused then   -- lunet.profile is counting: each child's work in its own row
    return profiling.fused({ fc, act, proj }, x, fc.out_features, function()
      return mlp(x, fc.weight, fc.bias, proj.weight, proj.bias, opts)
    end)
  end
  return mlp(x, fc.weight, fc.bias, proj.weight, proj.bias, opts)
end

return MLP
