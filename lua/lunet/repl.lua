--[[
lunet.repl: the Lua side of the lunet program's REPL (src/prog/repl.c
reads the lines; this decides what they mean and how results look).

  ?name          the documentation of name (lunet.doc): ?lunet.zeros, ?x:matmul
  help(obj)      the same for a value; help() says what there is
  =expr          prints expr (as `return expr`)
  :time on|off   print each command's wall time (:time alone says which)
  :help          these commands
  _LAST          the last command's (first) result
and results are shown by lunet.inspect: tables nested and sorted, tensors
and modules by their own tostring.  Completion (TAB) is repl.complete.
]]
local inspect = require "lunet.inspect"

local repl = { timing = false }

repl.COMMANDS = [[
?name          documentation of a function, class, method or namespace (also help(obj))
=expr          print the value of expr
:time on|off   print each command's wall time
:help          this list
_LAST          the last result;  TAB completes names, fields, methods and, in a string, file names
startup: $LUNET_RC (or ~/.lunetrc) runs when the REPL starts; $LUA_INIT before anything]]

-- ---------------------------------------------------------------- commands

local function time_command(arg)
  if arg == "on" then repl.timing = true
  elseif arg == "off" then repl.timing = false
  elseif arg ~= "" then io.stderr:write("usage: :time on|off\n") return end
  print("timing " .. (repl.timing and "on" or "off"))
end

-- :name args -- a REPL command (called by the line rewrite() makes); a
-- command is not timed (":time on" would time itself)
function repl.command(line)
  repl.untimed = true
  local name, arg = line:match("^(%S*)%s*(.-)%s*$")
  if name == "time" then return time_command(arg) end
  if name == "help" or name == "?" then return print(repl.COMMANDS) end
  io.stderr:write(string.format("unknown command ':%s' (commands: :time on|off, :help)\n", name))
end

--[[
repl.rewrite(line) -> the source to run for the first line of an input:
"?name" asks lunet.doc, ":cmd" is a REPL command, "=expr" is
"return expr"; anything else is unchanged.
]]
function repl.rewrite(line)
  local first, rest = line:match("^%s*([?:=])(.*)$")
  if first == "?" then
    local name = rest:match("^%s*(.-)%s*$")
    if name == "" then return "require('lunet.doc').help()" end
    return string.format("require('lunet.doc').help(%q)", name)
  elseif first == ":" then
    return string.format("require('lunet.repl').command(%q)", rest)
  elseif first == "=" then
    return "return " .. rest
  end
  return line
end

-- ---------------------------------------------------------------- results

-- "12.3 ms", "4.56 s"
function repl.time_str(seconds)
  if seconds < 1 then return string.format("%.3g ms", seconds * 1000) end
  return string.format("%.3g s", seconds)
end

--[[
repl.done(ok, seconds, ...): after a command ran -- show its results (one
line, tab-separated, when they all fit on one; else one per line), keep
the first as _LAST, and with :time on print the wall time.
]]
function repl.done(ok, seconds, ...)
  local n = select("#", ...)
  if ok and n > 0 then
    _G._LAST = (...)
    local parts, multiline = {}, false
    for i = 1, n do
      local v = select(i, ...)
      parts[i] = v == nil and "nil" or inspect.show(v)
      multiline = multiline or parts[i]:find("\n") ~= nil
    end
    print(table.concat(parts, multiline and "\n" or "\t"))
  end
  if repl.timing and not repl.untimed then print("(" .. repl.time_str(seconds) .. ")") end
  repl.untimed = false
end

-- ---------------------------------------------------------------- start-up

-- the startup file: $LUNET_RC (set but empty: none), else ~/.lunetrc if it exists
function repl.rc_path()
  local rc = os.getenv("LUNET_RC")
  if rc then return rc ~= "" and rc or nil end
  local home = os.getenv("HOME")
  if not home or home == "" then return nil end
  local path = home .. "/.lunetrc"
  local f = io.open(path, "r")
  if not f then return nil end
  f:close()
  return path
end

-- at the REPL's start: help() as a global, then the startup file (its
-- errors are reported like any command's, and the REPL starts anyway)
function repl.setup(run_rc)
  if rawget(_G, "help") == nil then _G.help = require("lunet.doc").help end
  local rc = run_rc and repl.rc_path()
  if rc then dofile(rc) end
end

-- ---------------------------------------------------------------- completion

local KEYWORDS = {
  "and", "break", "do", "else", "elseif", "end", "false", "for", "function", "goto", "if", "in",
  "local", "nil", "not", "or", "repeat", "return", "then", "true", "until", "while",
}

-- what a tensor answers besides its methods
local TENSOR_FIELDS = { "dtype", "grad", "grad_fn", "is_leaf" }

local function lunet_() return package.loaded.lunet end

local function is_tensor(v)
  local l = lunet_()
  return l ~= nil and l.is_tensor(v)
end

local is_module = require("lunet.nn.module").is_module
local is_method = require("lunet.util").is_method

-- the names lunet loads on first use (its metatable's __lazy)
local function lazy_names(v)
  local mt = getmetatable(v)
  local lazy = type(mt) == "table" and rawget(mt, "__lazy")
  return type(lazy) == "table" and lazy or nil
end

-- v.k without running any code but lunet's lazy loading; nil if unknown
local function field(v, k)
  if is_tensor(v) then
    local m = lunet_().Tensor[k]
    if m ~= nil then return m end
    return nil
  end
  if type(v) ~= "table" then return nil end
  if is_module(v) then
    for _, store in ipairs { "_modules", "_params", "_buffers", "_attrs" } do
      local s = rawget(v, store)
      if type(s) == "table" and s[k] ~= nil then return s[k] end
    end
  end
  local x = rawget(v, k)
  if x ~= nil then return x end
  local lazy = lazy_names(v)
  if lazy and lazy[k] then
    local ok, r = pcall(function() return v[k] end)
    return ok and r or nil
  end
  for _, t in ipairs(repl.classes(v)) do
    x = rawget(t, k)
    if x ~= nil then return x end
  end
end

-- the tables v finds methods in, nearest first: each __index table along
-- its metatables, or a metatable itself when its __index is a function
-- (a module's class, an optimiser's)
function repl.classes(v)
  local out, mt = {}, getmetatable(v)
  while type(mt) == "table" and #out < 16 do
    local idx = rawget(mt, "__index")
    local t = type(idx) == "table" and idx or (type(idx) == "function" and mt) or nil
    if t == nil then break end
    out[#out + 1] = t
    mt = getmetatable(t)
  end
  return out
end

-- every name v answers to: own keys, lazy ones, a module's parts, the
-- methods along its classes; name -> value (or true when unknown)
local function fields(v)
  local out = {}
  local function take(t)
    if type(t) ~= "table" then return end
    for k, x in next, t do
      if type(k) == "string" and out[k] == nil then out[k] = x end
    end
  end
  if is_tensor(v) then
    take(lunet_().Tensor)
    for _, k in ipairs(TENSOR_FIELDS) do out[k] = out[k] or true end
    return out
  end
  if type(v) ~= "table" then return out end
  if is_module(v) then
    for _, store in ipairs { "_modules", "_params", "_buffers", "_attrs" } do take(rawget(v, store)) end
  else
    take(v)
  end
  for k in pairs(lazy_names(v) or {}) do out[k] = out[k] or true end
  for _, t in ipairs(repl.classes(v)) do take(t) end
  return out
end

-- the names completion leaves out for v: the `_internal` sets of v and
-- its classes (nn.Module's, Optimizer's), and on a module instance what
-- makes classes (nn.Module._class_only: extend, init, fail, ...)
local function hidden_names(v)
  local out = {}
  if type(v) ~= "table" then return out end
  local tables = repl.classes(v)
  table.insert(tables, 1, v)
  for _, t in ipairs(tables) do
    local set = rawget(t, "_internal")
    if type(set) == "table" then for k in pairs(set) do out[k] = true end end
  end
  if is_module(v) and rawget(v, "_attrs") ~= nil then
    for k in pairs(require("lunet.nn.module")._class_only) do out[k] = true end
  end
  return out
end

--[[
repl.complete(word) -> sorted list of completions of word: a global or
keyword ("pri" -> "print"), a field along a path ("lunet.optim.A" ->
"lunet.optim.Adam", "lunet.optim.AdamW", loading lunet's lazy parts as
needed), or a method ("m:par" -> "m:parameters", "m:param_groups", a
module's inherited methods included).  Names starting with "_" (and
metamethods, "__") are left out unless the word starts with as many, and
so are a class's internals (hidden_names above).
]]
function repl.complete(word)
  local path, sep, part = word:match("^(.*)([.:])([%w_]*)$")
  local names, v
  if path then
    v = _G
    for seg_sep, seg in ("." .. path):gmatch("([.:])([^.:]*)") do
      if seg_sep == ":" or not seg:match("^[%a_][%w_]*$") then return {} end
      v = field(v, seg)
      if v == nil then return {} end
    end
    names = fields(v)
    for k in pairs(hidden_names(v)) do names[k] = nil end
  else
    part, path, sep = word, "", ""
    names = fields(_G)
    for _, k in ipairs(KEYWORDS) do names[k] = names[k] or true end
  end
  local out = {}
  for k, x in pairs(names) do
    local hidden = k:match("^_*")                  -- "_" private, "__" metamethods
    if k:sub(1, #part) == part and #part:match("^_*") >= #hidden
       and k:match("^[%a_][%w_]*$") and (sep ~= ":" or is_method(x)) then
      out[#out + 1] = path .. sep .. k
    end
  end
  table.sort(out)
  return out
end

return repl
