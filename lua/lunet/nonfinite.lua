--[[
lunet.train's numeric alarm.  After each backward, a loss or a gradient
norm that is NaN or infinite stops the run with an error naming the step
and the first parameter (in registration order) whose gradient is not
finite; with the option nonfinite = "skip" the step is skipped instead
(no optimiser step) and listed in history.skipped.  The op that first
made the NaN is found with lunet.detect_anomaly.

  nonfinite.check_option(v)                     -> nil, or what is wrong
  nonfinite.first_bad(model, params)            -> name, or nil
  nonfinite.check(mode, step, loss, norm, model, params) -> true to skip
    (raises for mode "stop"; norm nil: computed here)
]]
local lunet = require "lunet"
local util = require "lunet.util"

local nonfinite = {}

local function finite(v) return v == v and v ~= math.huge and v ~= -math.huge end

function nonfinite.check_option(v)
  if v ~= nil and v ~= "stop" and v ~= "skip" then
    return "nonfinite must be 'stop' or 'skip', got " .. tostring(v)
  end
end

-- the name of the first parameter whose gradient holds a NaN or an
-- infinity: the sum of squares (in double, so no finite float overflows
-- it) is finite exactly when every element is
function nonfinite.first_bad(model, params)
  local function bad(p) return p.grad and not finite(lunet._grad_sq_sum({ p.grad })) end
  if type(model) == "table" and type(model.named_parameters) == "function" then
    for name, p in model:named_parameters() do
      if bad(p) then return name end
    end
  end
  for i, p in ipairs(params) do
    if bad(p) then return string.format("params[%d]", i) end
  end
end

local function grad_norm(params)
  local grads = {}
  for _, p in ipairs(params) do
    if p.grad then grads[#grads + 1] = p.grad end
  end
  return math.sqrt(lunet._grad_sq_sum(grads))
end

-- nonfinite.check(mode, step, loss, norm, model, params) -> true when the
-- step's loss or gradient norm (norm nil: computed here) is NaN or infinite
-- and mode is "skip"; false when both are finite; for mode "stop" (the
-- default) a NaN or infinity raises, naming the step and the parameter
function nonfinite.check(mode, step, loss, norm, model, params)
  local lv = loss:item()
  norm = norm or grad_norm(params)
  if finite(lv) and finite(norm) then return false end
  if mode == "skip" then return true end
  local function str(v) return v ~= v and "nan" or tostring(v) end   -- not "-nan"
  local what = finite(lv) and "the gradient norm is " .. str(norm) or "the loss is " .. str(lv)
  local name = nonfinite.first_bad(model, params)
  util.fail("train", "step %d: %s%s; stopped (lunet.detect_anomaly(true) finds the op that " ..
            "made it, nonfinite = 'skip' skips such steps)", step, what,
            name and "; the first parameter whose gradient is not finite is " .. name or "")
end

return nonfinite
