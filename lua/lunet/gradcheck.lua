-- lunet.gradcheck(fn, inputs, opts): compare the analytic gradients of
-- sum(fn(inputs...) * w), for a fixed random w, with central finite
-- differences.  Returns ok, worst relative error, and a message naming
-- the worst element.  Inputs that require grad are checked; each must be a
-- leaf (a non-contiguous leaf, e.g. x:t():detach():requires_grad(true), is
-- fine; an expanded one is not: expand inside fn instead).

local util = require "lunet.util"
local indices, flat = util.indices, util.flat

return function(lunet)
  return function(fn, inputs, opts)
    opts = opts or {}
    local eps, atol, rtol = opts.eps or 1e-2, opts.atol or 1e-2, opts.rtol or 1e-2
    for i, x in ipairs(inputs) do
      if lunet.is_tensor(x) and x:requires_grad() then
        if not x.is_leaf then error("gradcheck: input " .. i .. " is not a leaf", 2) end
        local shape, stride = x:shape(), x:stride()
        for d = 1, #shape do
          if stride[d] == 0 and shape[d] > 1 then
            error("gradcheck: input " .. i .. " has overlapping memory (expand inside fn)", 2)
          end
        end
      end
    end
    local out = fn(table.unpack(inputs))
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
    out:backward(w)
    local worst, where, ok = 0.0, "no input requires grad", true
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
          if rel > worst or diff ~= diff or where == "no input requires grad" then
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
