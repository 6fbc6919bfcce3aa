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

-- the same lr at every step
function schedule.constant(lr)
  need_number("constant", "lr", lr, 0)
  return function() return lr end
end

--[[
Linear warm-up then cosine decay:
  step <= warmup:         lr * step / warmup
  warmup < step < total:  min_lr + (lr - min_lr) * (1 + cos(pi * (step - warmup) / (total - warmup))) / 2
  step >= total:          min_lr
so step `warmup` gets the full lr and step `total` reaches min_lr.
]]
function schedule.warmup_cosine(o)
  if type(o) ~= "table" then
    util.fail("schedule.warmup_cosine", "expected an options table {lr=, warmup=, total=, min_lr=0}")
  end
  util.check_options("schedule.warmup_cosine", o, { "lr", "warmup", "total", "min_lr" })
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
    if step < warmup then return lr * step / warmup end
    if step >= total then return min_lr end
    local progress = (step - warmup) / (total - warmup)
    return min_lr + (lr - min_lr) * 0.5 * (1 + math.cos(math.pi * progress))
  end
end

return schedule
