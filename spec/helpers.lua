-- Shared helpers for the specs.
local lu = require "luaunit"
local lunet = require "lunet"

local H = {}

-- assert two tensors (or a tensor and a nested table) agree within tol
function H.assert_close(actual, expected, tol, msg)
  tol = tol or 1e-5
  local a = lunet.is_tensor(actual) and actual:totable() or actual
  local e = lunet.is_tensor(expected) and expected:totable() or expected
  local function walk(x, y, path)
    if type(x) == "table" then
      lu.assertEquals(type(y), "table", (msg or "") .. " at " .. path)
      lu.assertEquals(#x, #y, (msg or "") .. " length at " .. path)
      for i = 1, #x do walk(x[i], y[i], path .. "[" .. i .. "]") end
    else
      lu.assertEquals(type(y), "number", (msg or "") .. " at " .. path)
      if not (x ~= x and y ~= y) and not (x == y) then
        local d = math.abs(x - y)
        if not (d <= tol * math.max(1, math.abs(y))) then
          lu.fail(string.format("%s at %s: %.7g ~= %.7g", msg or "values differ", path, x, y))
        end
      end
    end
  end
  walk(a, e, "")
end

-- gradcheck that fails the test with the worst element named
function H.gradcheck(fn, inputs, opts)
  local ok, worst, where = lunet.gradcheck(fn, inputs, opts)
  lu.assertTrue(ok, string.format("gradcheck failed: worst rel err %.3g, %s", worst, where))
end

-- a leaf that requires grad
function H.leaf(t) return t:detach():requires_grad(true) end

-- assert that fn raises an error whose message contains text
function H.raises(text, fn, ...)
  local ok, err = pcall(fn, ...)
  lu.assertFalse(ok, "expected an error containing: " .. text)
  lu.assertStrContains(tostring(err), text, false)
end

return H
