-- Small helpers shared by lunet's Lua code (and its specs).
local util = {}

-- iterator over every 1-based index of shape, row-major:
--   for idx in util.indices{2, 3} do ... end
function util.indices(shape)
  local n, k = 1, 0
  for _, s in ipairs(shape) do n = n * s end
  return function()
    if k == n then return nil end
    local idx, r = {}, k
    for d = #shape, 1, -1 do
      idx[d] = r % shape[d] + 1
      r = r // shape[d]
    end
    k = k + 1
    return idx
  end
end

-- the values of a tensor (or nested table) as a flat list, row-major
function util.flat(x)
  local t = type(x) == "table" and x or x:totable()
  local out = {}
  local function walk(v)
    if type(v) == "table" then for _, e in ipairs(v) do walk(e) end
    else out[#out + 1] = v end
  end
  walk(t)
  return out
end

return util
