-- tostring(tensor) in PyTorch's layout: values right-aligned in one
-- format chosen for the whole tensor, long dims summarised with "...",
-- then shape, dtype (unless float32) and autograd state.  The module is that function: the
-- Tensor metatable's __tostring (src/lua/lb_tensor.c) calls it.

local shape_str = require("lunet.util").shape_str

local EDGE, THRESHOLD = 3, 1000

-- indices shown along a dim: all, or the first and last EDGE with a gap
local function shown(n, summarise)
  local idx = {}
  if summarise and n > 2 * EDGE then
    for i = 1, EDGE do idx[#idx + 1] = i end
    idx[#idx + 1] = false                     -- the "..."
    for i = n - EDGE + 1, n do idx[#idx + 1] = i end
  else
    for i = 1, n do idx[i] = i end
  end
  return idx
end

-- visit every shown element, calling f(value)
local function each_shown(x, shape, summarise, f)
  local pos = {}
  local function walk(d)
    if d > #shape then f(x:get(pos)) return end
    for _, i in ipairs(shown(shape[d], summarise)) do
      if i then pos[d] = i; walk(d + 1) end
    end
  end
  walk(1)
end

-- integer tensors print as integers, bool ones as true/false
local function plain_formatter(x, shape, summarise)
  local width = 0
  each_shown(x, shape, summarise, function(v) width = math.max(width, #tostring(v)) end)
  return function(v) local s = tostring(v); return string.rep(" ", width - #s) .. s end, width
end

-- PyTorch's rule for floats: integers print as "3.", a wide range in
-- scientific notation, otherwise four decimals
local function formatter(x, shape, summarise)
  if x.dtype ~= "float32" then return plain_formatter(x, shape, summarise) end
  local ints, lo, hi, any = true, math.huge, 0, false
  each_shown(x, shape, summarise, function(v)
    if v == v and v ~= math.huge and v ~= -math.huge then
      any = true
      if v ~= math.floor(v) then ints = false end
      local a = math.abs(v)
      if a > hi then hi = a end
      if a > 0 and a < lo then lo = a end
    end
  end)
  local fmt
  if not any then fmt = function(v) return tostring(v) end
  elseif ints and hi < 1e8 then fmt = function(v) return string.format("%.0f.", v) end
  elseif hi > 1e8 or (lo < math.huge and (hi / lo > 1000 or lo < 1e-4)) then
    fmt = function(v) return string.format("%.4e", v) end
  else fmt = function(v) return string.format("%.4f", v) end
  end
  local function safe(v)
    if v ~= v then return "nan" elseif v == math.huge then return "inf"
    elseif v == -math.huge then return "-inf" end
    return fmt(v)
  end
  local width = 0
  each_shown(x, shape, summarise, function(v) width = math.max(width, #safe(v)) end)
  return function(v) local s = safe(v); return string.rep(" ", width - #s) .. s end, width
end

-- rows wrap to fit LINEWIDTH columns, as PyTorch's do: the elements of
-- the last dim go width + 2 (", ") apiece after the row's indentation
local LINEWIDTH = 80

local function body(x, shape, summarise, fmt, width, indent)
  local pos = {}
  local function walk(d)
    local parts = {}
    if d == #shape then
      for _, i in ipairs(shown(shape[d], summarise)) do
        if i then pos[d] = i; parts[#parts + 1] = fmt(x:get(pos))
        else parts[#parts + 1] = "..." end
      end
      local per = math.max(1, (LINEWIDTH - indent - d + 1) // (width + 2))
      local lines = {}
      for k = 1, #parts, per do
        lines[#lines + 1] = table.concat(parts, ", ", k, math.min(k + per - 1, #parts))
      end
      return "[" .. table.concat(lines, ",\n" .. string.rep(" ", indent + d)) .. "]"
    end
    for _, i in ipairs(shown(shape[d], summarise)) do
      if i then pos[d] = i; parts[#parts + 1] = walk(d + 1)
      else parts[#parts + 1] = "..." end
    end
    local sep = "," .. string.rep("\n", #shape - d) .. string.rep(" ", indent + d)
    return "[" .. table.concat(parts, sep) .. "]"
  end
  return walk(1)
end

return function(x)
  local shape = x:shape()
  local suffix = {}
  local text
  if x:numel() == 0 then
    text = "[]"
  elseif #shape == 0 then
    text = formatter(x, shape, false)(x:item()):gsub("^%s+", "")
  else
    local summarise = x:numel() > THRESHOLD
    local fmt, width = formatter(x, shape, summarise)
    text = body(x, shape, summarise, fmt, width, #"tensor(")
  end
  suffix[#suffix + 1] = "shape=" .. shape_str(shape)
  if x.dtype ~= "float32" then suffix[#suffix + 1] = "dtype=" .. x.dtype end
  if x.grad_fn then suffix[#suffix + 1] = "grad_fn=<" .. x.grad_fn .. ">"
  elseif x:requires_grad() then suffix[#suffix + 1] = "requires_grad=true" end
  return "tensor(" .. text .. ", " .. table.concat(suffix, ", ") .. ")"
end
