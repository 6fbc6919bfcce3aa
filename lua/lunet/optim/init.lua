-- lunet.optim: optimisers whose update loops run in C over whole parameter
-- tensors, learning-rate schedules, and gradient clipping.
--
--   local opt = lunet.optim.AdamW(model:parameters(), {lr = 3e-4})
--   opt:zero_grad(); loss:backward(); lunet.optim.clip_grad_norm(model:parameters(), 1.0)
--   opt.lr = sched(step); opt:step()
local lunet = require "lunet"
local adam = require "lunet.optim.adam"
local util = require "lunet.util"

local optim = {
  SGD = require "lunet.optim.sgd",
  Adam = adam.Adam,
  AdamW = adam.AdamW,
  Optimizer = require "lunet.optim.optimizer",
  schedule = require "lunet.optim.schedule",
}

--[[
clip_grad_norm(params, max_norm) -> total_norm
The 2-norm of all gradients together, taken before clipping; if it exceeds
max_norm every gradient is scaled by max_norm / (total_norm + 1e-6), as
torch.nn.utils.clip_grad_norm_ does.  params: a list of tensors or a
module; parameters without a gradient are skipped.
]]
function optim.clip_grad_norm(params, max_norm)
  if type(params) == "table" and not lunet.is_tensor(params)
      and type(params.parameters) == "function" then
    params = params:parameters()
  elseif lunet.is_tensor(params) then
    params = { params }
  end
  if type(params) ~= "table" then
    util.fail("clip_grad_norm", "params must be a list of tensors or a module, got %s", type(params))
  end
  if type(max_norm) ~= "number" or max_norm ~= max_norm or max_norm < 0 then
    util.fail("clip_grad_norm", "max_norm must be a number >= 0, got %s", tostring(max_norm))
  end
  local grads = {}
  for i, p in ipairs(params) do
    if not lunet.is_tensor(p) then
      util.fail("clip_grad_norm", "params[%d] is %s, expected a tensor", i, type(p))
    end
    local g = p.grad
    if g then grads[#grads + 1] = g end
  end
  local total = math.sqrt(lunet._grad_sq_sum(grads))
  local coef = max_norm / (total + 1e-6)
  if coef < 1 then
    for _, g in ipairs(grads) do lunet._scale_(g, coef) end
  end
  return total
end

return optim
