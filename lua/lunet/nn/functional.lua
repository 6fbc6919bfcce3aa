-- nn.functional: the stateless ops the layers are built from, as in
-- torch.nn.functional.  They are the core's fused ops, re-exported.
local lunet = require "lunet"

local F = {}
for _, name in ipairs {
  "linear", "mlp", "embedding", "layer_norm", "rms_norm", "rope", "dropout", "attention",
  "softmax", "log_softmax", "relu", "gelu", "silu", "cross_entropy", "mse_loss",
} do
  F[name] = lunet[name]
end

return F
