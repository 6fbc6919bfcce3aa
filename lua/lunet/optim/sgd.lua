-- SGD with momentum, dampening, Nesterov and L2 weight decay, exactly as
-- torch.optim.SGD:
--   g = grad + weight_decay * p
--   buf = g on a parameter's first step, else momentum * buf + (1 - dampening) * g
--   g = nesterov and g + momentum * buf or buf        (when momentum ~= 0)
--   p = p - lr * g
-- The loop runs in C over the whole tensor (lunet._sgd_step).
local lunet = require "lunet"
local Optimizer = require "lunet.optim.optimizer"
local util = require "lunet.util"

local steppers = Optimizer.stepper(lunet._sgd_step)    -- errors at the user's line

local SGD = Optimizer.class {
  name = "SGD",
  hyper = { "lr", "momentum", "dampening", "nesterov", "weight_decay" },
  defaults = { lr = 1e-3, momentum = 0, dampening = 0, nesterov = false, weight_decay = 0 },
  slots = { "momentum_buffer" },
  counted = false,
}

function SGD.check(o)
  local num = Optimizer.number
  local msg = num(o, "lr", 0) or num(o, "momentum", 0) or num(o, "dampening", -math.huge)
    or num(o, "weight_decay", 0)
  if msg then return msg end
  if type(o.nesterov) ~= "boolean" then
    return "nesterov must be a boolean, got " .. tostring(o.nesterov)
  end
  if o.nesterov and (o.momentum <= 0 or o.dampening ~= 0) then
    return "nesterov needs momentum > 0 and dampening 0"
  end
end

-- params without a gradient are skipped; closure (optional) is called
-- first and its result returned, like PyTorch's step(closure)
function SGD:step(closure)
  local loss
  if closure then loss = closure() end
  local msg = self:check_groups()
  if msg then util.fail("SGD", "%s", msg) end
  local sgd_step, state, params = steppers[self.name], self.state, self.params
  for _, grp, ids in self:groups() do
    local lr, mom, damp, nest, wd = grp.lr, grp.momentum, grp.dampening, grp.nesterov, grp.weight_decay
    for _, i in ipairs(ids) do
      local p = params[i]
      local g = p.grad
      if g then
        local buf, first = nil, false
        if mom ~= 0 then
          local st = state[i]
          if st == nil then st = {}; state[i] = st end
          buf = st.momentum_buffer
          if buf == nil then
            buf = lunet.zeros_like(p)
            st.momentum_buffer = buf
            first = true
          end
        end
        sgd_step(p, g, buf, first, lr, mom, damp, nest, wd)
      end
    end
  end
  return loss
end

return SGD
