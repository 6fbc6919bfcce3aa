-- Adam and AdamW, exactly as torch.optim.Adam / AdamW (amsgrad not
-- supported).  For each parameter with a gradient, step = step + 1 and
--   Adam:  g = grad + weight_decay * p
--   AdamW: p = p * (1 - lr * weight_decay);  g = grad
--   m = beta1 * m + (1 - beta1) * g
--   v = beta2 * v + (1 - beta2) * g^2
--   p = p - lr / (1 - beta1^step) * m / (sqrt(v) / sqrt(1 - beta2^step) + eps)
-- The loop runs in C over the whole tensor (lunet._adam_step).
local lunet = require "lunet"
local Optimizer = require "lunet.optim.optimizer"
local util = require "lunet.util"

local steppers = Optimizer.stepper(lunet._adam_step)   -- errors at the user's line

local function check(o)
  local num = Optimizer.number
  local msg = num(o, "lr", 0) or num(o, "eps", 0) or num(o, "weight_decay", 0)
  if msg then return msg end
  local b = o.betas
  if type(b) ~= "table" or #b ~= 2 or type(b[1]) ~= "number" or type(b[2]) ~= "number" then
    return "betas must be a table of two numbers, e.g. {0.9, 0.999}"
  end
  for i = 1, 2 do
    if not (b[i] >= 0 and b[i] < 1) then
      return string.format("betas[%d] must be in [0, 1), got %s", i, tostring(b[i]))
    end
  end
end

local function step(self, closure)
  local loss
  if closure then loss = closure() end
  local msg = self:check_groups()
  if msg then util.fail(self.name, "%s", msg) end
  local decoupled, adam_step, state, params = self.decoupled, steppers[self.name], self.state, self.params
  for _, grp, ids in self:groups() do
    local lr, b1, b2, eps, wd = grp.lr, grp.betas[1], grp.betas[2], grp.eps, grp.weight_decay
    for _, i in ipairs(ids) do
      local p = params[i]
      local g = p.grad
      if g then
        local st = state[i]
        if st == nil then
          st = { step = 0, exp_avg = lunet.zeros_like(p), exp_avg_sq = lunet.zeros_like(p) }
          state[i] = st
        end
        adam_step(p, g, st.exp_avg, st.exp_avg_sq, st.step + 1, lr, b1, b2, eps, wd, decoupled)
        st.step = st.step + 1
      end
    end
  end
  return loss
end

local function class(name, decoupled, weight_decay)
  return Optimizer.class {
    name = name,
    decoupled = decoupled,
    hyper = { "lr", "betas", "eps", "weight_decay" },
    defaults = { lr = 1e-3, betas = { 0.9, 0.999 }, eps = 1e-8, weight_decay = weight_decay },
    slots = { "exp_avg", "exp_avg_sq" },
    counted = true,
    required_slots = true,
    check = check,
    step = step,
  }
end

return { Adam = class("Adam", false, 0), AdamW = class("AdamW", true, 1e-2) }
