-- lunet.gradcheck(fn, inputs, opts): compare the analytic gradients of
-- sum(fn(inputs...) * w), for a fixed random w, with central finite
-- differences.  Returns ok, worst relative error, and a message naming
-- the worst element.  Inputs that require grad are checked; each must be a
-- leaf (a non-contiguous leaf, e.g. x:t():detach():requires_grad(true), is
-- fine; an expanded one is not: expand inside fn instead).

local util = require "lunet.util"
local indices, flat = util.indices, util.flat

local function fail(fmt, ...) util.fail("gradcheck", fmt, ...) end

return function(lunet)
  local backward = util.op(function(t, g) return t:backward(g) end)
  return function(fn, inputs, opts)
    util.check_options("gradcheck", opts, { "eps", "atol", "rtol" })
    opts = opts or {}
    local eps, atol, rtol = opts.eps or 1e-2, opts.atol or 1e-2, opts.rtol or 1e-2
    if type(fn) ~= "function" and not (getmetatable(fn) or {}).__call then
      fail("fn must be a function, got %s", type(fn))
    end
    if type(inputs) ~= "table" or lunet.is_tensor(inputs) then
      fail("inputs must be a list of tensors (and other arguments), got %s",
           lunet.is_tensor(inputs) and "a tensor (put it in a list: {x})" or type(inputs))
    end
    local checked = 0
    for i, x in ipairs(inputs) do
      if lunet.is_tensor(x) and x:requires_grad() then
        if not x.is_leaf then fail("input %d is not a leaf", i) end
        local shape, stride = x:shape(), x:stride()
        for d = 1, #shape do
          if stride[d] == 0 and shape[d] > 1 then
            fail("input %d has overlapping memory (expand inside fn)", i)
          end
        end
        checked = checked + 1
      end
    end
    if checked == 0 then
      fail("no input requires grad (%s): make the inputs to check leaves with requires_grad=true",
           #inputs == 1 and "input 1 does not" or "none of the " .. #inputs .. " does")
    end
    local out = fn(table.unpack(inputs))
    if not lunet.is_tensor(out) then fail("fn must return a tensor, got %s", type(out)) end
    if not out:requires_grad() then
      fail("fn's output does not require grad: it does not depend on an input that does")
    end
    local w = lunet.randn(out:shape())
    local wv = flat(w)
    local function objective()
      local v, s = flat(fn(table.unpack(inputs))), 0.0
      for k = 1, #v do s = s + v[k] * wv[k] end
      return s
    end
    for _, x in ipairs(inputs) do
      if lunet.is_tensor(x) then x.grad = nil end
    end
    backward(out, w)
    local worst, where, ok = 0.0, nil, true
    for i, x in ipairs(inputs) do
      if lunet.is_tensor(x) and x:requires_grad() then
        local g = x.grad
        for idx in indices(x:shape()) do
          local analytic = g and g:get(idx) or 0.0
          local numeric = lunet.no_grad(function()
            local v0 = x:get(idx)
            x:set(idx, v0 + eps)
            local fp = objective()
            x:set(idx, v0 - eps)
            local fm = objective()
            x:set(idx, v0)
            return (fp - fm) / (2 * eps)
          end)
          local diff = math.abs(analytic - numeric)
          local rel = diff / math.max(math.abs(numeric), atol)
          if diff > atol + rtol * math.abs(numeric) or diff ~= diff then ok = false end
          if rel > worst or diff ~= diff or where == nil then
            if diff ~= diff then rel = math.huge end
            worst = math.max(worst, rel)
            where = string.format("input %d at {%s}: analytic %.6g, numeric %.6g",
                                  i, table.concat(idx, ","), analytic, numeric)
          end
        end
      end
    end
    return ok, worst, where
  end
end
