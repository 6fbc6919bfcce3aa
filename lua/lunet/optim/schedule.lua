-- Learning-rate schedules: each returns a function(step) -> lr, where
-- step counts optimiser steps from 1 (the step about to be taken).  Apply
-- one with `opt.lr = sched(step)` (or opt:set_lr(sched(step))) before
-- opt:step().
local util = require "lunet.util"

local schedule = {}

local function need_number(op, name, v, lo)
  if type(v) ~= "number" or v ~= v or v < lo then
    util.fail("schedule." .. op, "%s must be a number >= %s, got %s", name, lo, tostring(v))
  end
end

-- the options table o of schedule `op`: only `known` keys
local function options(op, o, known)
  if type(o) ~= "table" then
    util.fail("schedule." .. op, "expected an options table {%s}", table.concat(known, "=, ") .. "=")
  end
  return util.check_options("schedule." .. op, o, known)
end

local function need_step(op, step)
  if type(step) ~= "number" then
    util.fail("schedule." .. op, "step must be a number, got %s", type(step))
  end
end

-- the same lr at every step
function schedule.constant(lr)
  need_number("constant", "lr", lr, 0)
  return function() return lr end
end

--[[
Linear warm-up then cosine decay:
  step <= warmup:          lr * step / warmup
  warmup < step <= total:  min_lr + (lr - min_lr) * (1 + cos(pi * t / n)) / 2,
                           t = step - warmup - 1, n = total - warmup
  step > total:            min_lr
so steps `warmup` and `warmup + 1` get the full lr, and the last step,
`total`, still learns (PyTorch's CosineAnnealingLR(T_max = n) after a
LinearLR warm-up): min_lr is where the decay would arrive after it.
]]
function schedule.warmup_cosine(o)
  options("warmup_cosine", o, { "lr", "warmup", "total", "min_lr" })
  local lr, warmup, total, min_lr = o.lr, o.warmup or 0, o.total, o.min_lr or 0
  need_number("warmup_cosine", "lr", lr, 0)
  need_number("warmup_cosine", "warmup", warmup, 0)
  need_number("warmup_cosine", "total", total, 0)
  need_number("warmup_cosine", "min_lr", min_lr, 0)
  if total < warmup then
    util.fail("schedule.warmup_cosine", "total (%s) must be >= warmup (%s)", total, warmup)
  end
  return function(step)
    if type(step) ~= "number" then
      util.fail("schedule.warmup_cosine", "step must be a number, got %s", type(step))
    end
    if warmup > 0 and step <= warmup then return lr * step / warmup end
    if step > total then return min_lr end
    local progress = math.max(step - warmup - 1, 0) / (total - warmup)
    return min_lr + (lr - min_lr) * 0.5 * (1 + math.cos(math.pi * progress))
  end
end

--[[
step_lr{lr=, step_size=, gamma=0.1}: lr * gamma^floor((step - 1) / step_size),
PyTorch's StepLR (the first step_size steps at lr, the next at lr * gamma, ...).
]]
function schedule.step_lr(o)
  options("step_lr", o, { "lr", "step_size", "gamma" })
  local lr, size, gamma = o.lr, o.step_size, o.gamma or 0.1
  need_number("step_lr", "lr", lr, 0)
  need_number("step_lr", "gamma", gamma, 0)
  if math.type(size) ~= "integer" or size < 1 then
    util.fail("schedule.step_lr", "step_size must be an integer >= 1, got %s", tostring(size))
  end
  return function(step)
    need_step("step_lr", step)
    return lr * gamma ^ ((step - 1) // size)
  end
end

--[[
linear{lr=, total=, warmup=0, min_lr=0}: the warm-up of warmup_cosine, then
a straight line from lr (step warmup + 1) towards min_lr, which it would
reach after the last step (PyTorch's LinearLR from 1 to min_lr / lr over
total - warmup steps); min_lr after total.
]]
function schedule.linear(o)
  options("linear", o, { "lr", "total", "warmup", "min_lr" })
  local lr, total, warmup, min_lr = o.lr, o.total, o.warmup or 0, o.min_lr or 0
  need_number("linear", "lr", lr, 0)
  need_number("linear", "warmup", warmup, 0)
  need_number("linear", "total", total, 0)
  need_number("linear", "min_lr", min_lr, 0)
  if total < warmup then
    util.fail("schedule.linear", "total (%s) must be >= warmup (%s)", total, warmup)
  end
  return function(step)
    need_step("linear", step)
    if warmup > 0 and step <= warmup then return lr * step / warmup end
    if step > total then return min_lr end
    return lr + (min_lr - lr) * math.max(step - warmup - 1, 0) / (total - warmup)
  end
end

--[[
one_cycle{max_lr=, total=, pct_start=0.3, div_factor=25,
final_div_factor=1e4, anneal='cos'}: PyTorch's OneCycleLR (two phases):
from max_lr / div_factor up to max_lr over the first pct_start of the
steps, then down to max_lr / div_factor / final_div_factor at the last
step; anneal 'cos' or 'linear'.
]]
function schedule.one_cycle(o)
  options("one_cycle", o, { "max_lr", "total", "pct_start", "div_factor", "final_div_factor", "anneal" })
  local max_lr, total = o.max_lr, o.total
  local pct, div, final = o.pct_start or 0.3, o.div_factor or 25, o.final_div_factor or 1e4
  local anneal = o.anneal or "cos"
  need_number("one_cycle", "max_lr", max_lr, 0)
  if math.type(total) ~= "integer" or total < 2 then
    util.fail("schedule.one_cycle", "total must be an integer >= 2, got %s", tostring(total))
  end
  need_number("one_cycle", "pct_start", pct, 0)
  if pct >= 1 then util.fail("schedule.one_cycle", "pct_start must be below 1, got %s", pct) end
  need_number("one_cycle", "div_factor", div, 0)
  need_number("one_cycle", "final_div_factor", final, 0)
  if anneal ~= "cos" and anneal ~= "linear" then
    util.fail("schedule.one_cycle", "anneal must be 'cos' or 'linear', got %s", tostring(anneal))
  end
  local initial = max_lr / div
  local low, peak, last = initial / final, pct * total - 1, total - 1
  local function interp(a, b, f)
    if anneal == "linear" then return a + (b - a) * f end
    return b + (a - b) / 2 * (math.cos(math.pi * f) + 1)
  end
  peak = math.max(peak, 0)
  return function(step)
    need_step("one_cycle", step)
    local t = math.min(math.max(step - 1, 0), last)
    if peak > 0 and t <= peak then return interp(initial, max_lr, t / peak) end
    return interp(max_lr, low, (t - peak) / (last - peak))
  end
end

return schedule
