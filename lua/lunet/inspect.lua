--[[
lunet.inspect(v [, opts]) -> string: any Lua value as readable text, the
way the lunet REPL shows results.

  lunet.inspect{b = {1, 2, 3}, a = "x", t = lunet.zeros{2, 3}}
  --> {a = "x", b = {1, 2, 3}, t = <tensor {2,3} float32>}

Tables show their array part first, then the other keys sorted (numbers,
then strings, then the rest); a table whose metatable has __pairs (a
state_dict) keeps the order its pairs gives.  A table that fits on one
line within opts.width (80) columns is shown on one line, else one entry
per line, indented by two spaces.  opts.depth (4) limits the nesting
shown (deeper tables are {...}), opts.length (40) the entries shown per
table ("... 12 more" says how many are left out).  A table that contains
itself shows <cycle> where it recurs.  Inside a table a tensor is
<tensor {shape} dtype> (with its value when it has a single element), a
module <Name>, a function <function>; at the top level a value with its
own __tostring (a tensor, a module's tree, a profile summary) is shown
by it.
]]
local util = require "lunet.util"

local DEFAULTS = { depth = 4, length = 40, width = 80 }

local KEYWORDS = {}
for w in ([[and break do else elseif end false for function goto if in local nil not or
            repeat return then true until while]]):gmatch("%a+") do KEYWORDS[w] = true end

local is_tensor = require("lunet").is_tensor
local is_module = require("lunet.nn.module").is_module

local function number_str(v)
  if math.type(v) == "integer" then return tostring(v) end
  if v ~= v then return "nan" elseif v == math.huge then return "inf" elseif v == -math.huge then return "-inf" end
  local s = string.format("%.14g", v)
  return s:find("^-?%d+$") and s .. ".0" or s     -- a float stays one: 3.0, as tostring
end

-- a tensor in one short line: shape, dtype, autograd state, and its value
-- when it has one element
local function tensor_str(t)
  local parts = { "<tensor", util.shape_str(t), t.dtype }
  if t:numel() == 1 then parts[#parts + 1] = "= " .. tostring(t:reshape{}:item()) end
  if t.grad_fn then parts[#parts + 1] = "grad_fn=" .. t.grad_fn
  elseif t:requires_grad() then parts[#parts + 1] = "requires_grad" end
  return table.concat(parts, " ") .. ">"
end

-- a value that is not a table to descend into, in one line
local function atom(v)
  local tv = type(v)
  if tv == "string" then return (string.format("%q", v):gsub("\\\n", "\\n")) end
  if tv == "number" then return number_str(v) end
  if tv == "nil" or tv == "boolean" then return tostring(v) end
  if is_tensor(v) then return tensor_str(v) end
  if tv == "table" and rawget(v, "__name") and v.__module == true then
    return "<class " .. rawget(v, "__name") .. ">"   -- a module's class
  end
  if is_module(v) then return "<" .. v:class_name() .. ">" end
  if tv == "function" then return "<function>" end
  local mt = getmetatable(v)
  if type(mt) == "table" and mt.__tostring then
    local ok, s = pcall(tostring, v)
    if ok and type(s) == "string" and not s:find("\n") and #s <= 60 then return s end
    return "<" .. (type(mt.__name) == "string" and mt.__name or tv) .. ">"
  end
  if tv == "table" and type(mt) == "table" and mt.__call and type(rawget(v, "name")) == "string"
     and rawget(v, "__index") then
    return "<class " .. rawget(v, "name") .. ">"   -- an optimiser's class
  end
  if tv == "table" then return nil end        -- descend
  return "<" .. tv .. ">"
end

local function key_str(k)
  if type(k) == "string" and k:match("^[%a_][%w_]*$") and not KEYWORDS[k] then return k end
  return "[" .. (atom(k) or "<table>") .. "]"
end

-- numbers (by value), then strings, then anything else (by its text)
local RANK = { number = 1, string = 2 }
local function key_less(a, b)
  local ra, rb = RANK[type(a)] or 3, RANK[type(b)] or 3
  if ra ~= rb then return ra < rb end
  if ra == 3 then return tostring(a) < tostring(b) end
  return a < b
end

-- the entries of t in display order: {key or false (array item), value}
local function entries(t)
  local list, n = {}, #t
  local mt = getmetatable(t)
  if type(mt) == "table" and mt.__pairs then
    for k, v in pairs(t) do list[#list + 1] = { k, v } end
    return list
  end
  for i = 1, n do list[i] = { false, t[i] } end
  local keys = {}
  for k in next, t do
    if not (math.type(k) == "integer" and k >= 1 and k <= n) then keys[#keys + 1] = k end
  end
  table.sort(keys, key_less)
  for _, k in ipairs(keys) do list[#list + 1] = { k, rawget(t, k) } end
  return list
end

local function render(v, o, indent, depth, path)
  local a = atom(v)
  if a then return a end
  if path[v] then return "<cycle>" end
  if next(v) == nil then return "{}" end
  if depth >= o.depth then return "{...}" end
  path[v] = true
  local list = entries(v)
  local items, keyed, multiline, total = {}, {}, false, 0
  for i, e in ipairs(list) do
    if i > o.length then
      items[#items + 1] = string.format("... %d more", #list - o.length)
      keyed[#items] = true
      break
    end
    local s = render(e[2], o, indent .. "  ", depth + 1, path)
    if e[1] ~= false then s = key_str(e[1]) .. " = " .. s end
    items[#items + 1], keyed[#items + 1] = s, e[1] ~= false
    multiline = multiline or s:find("\n") ~= nil
    total = total + #s + 2
  end
  path[v] = nil
  if not multiline and #indent + total + 2 <= o.width then
    return "{" .. table.concat(items, ", ") .. "}"
  end
  -- one entry per line, but runs of short array items share lines
  local inner, lines = indent .. "  ", {}
  for i, s in ipairs(items) do
    local prev = lines[#lines]
    if i > 1 and not keyed[i] and not keyed[i - 1] and not s:find("\n") and not prev:find("\n")
       and #inner + #prev + #s + 3 <= o.width then
      lines[#lines] = prev .. ", " .. s
    else
      lines[#lines + 1] = s
    end
  end
  return "{\n" .. inner .. table.concat(lines, ",\n" .. inner) .. ",\n" .. indent .. "}"
end

local OPTIONS = { "depth", "length", "width" }

-- lunet.inspect(v [, {depth=4, length=40, width=80}]) -> v as text: tables
-- nested and sorted, capped in depth and length, cycles marked (see above)
local function inspect(v, opts)
  util.check_options("inspect", opts, OPTIONS)
  local o = {}
  for _, k in ipairs(OPTIONS) do
    local x = opts and opts[k] or DEFAULTS[k]
    if math.type(x) ~= "integer" or x < 0 then util.fail("inspect", "%s must be an integer >= 0, got %s", k, tostring(x)) end
    o[k] = x
  end
  return render(v, o, "", 0, {})
end

-- the REPL's form of a result: a value with its own __tostring (a
-- tensor, a module) as that, a string as it is, anything else inspected
local function show(v, opts)
  local mt = getmetatable(v)
  if type(v) == "string" then return v end
  if type(mt) == "table" and mt.__tostring and not (type(v) == "table" and rawget(v, "__name")) then
    return tostring(v)
  end
  return inspect(v, opts)
end

return setmetatable({ inspect = inspect, show = show, tensor_str = tensor_str },
                    { __call = function(_, v, opts) return inspect(v, opts) end })
