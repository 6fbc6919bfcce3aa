-- Small helpers shared by lunet's Lua code (and its specs): where an
-- error is reported, option checking, shapes, warnings, index walks.
local util = {}

-- ---------------------------------------------------------------- errors

-- lunet's own Lua files live in this directory (and below it).  An error
-- that lunet's Lua code raises is reported at the first stack frame outside
-- them: the user's line that called into the library, even when it called
-- a model that called a layer that called a helper.  The stack is not
-- unwound or caught on the way, so a message handler (debug.traceback in
-- xpcall, the lunet program's) still sees every frame.
local LIB = debug.getinfo(1, "S").source:match("^@(.*[/\\])util%.lua$")

local function in_library(source)
  return LIB ~= nil and source:sub(1, 1) == "@" and source:sub(2, #LIB + 1) == LIB
end
util.in_library = in_library

-- The level, as error() in the function that calls user_level counts it,
-- of the innermost frame that is neither C nor one of lunet's files (0 if
-- there is none: then no position is added).
function util.user_level()
  local level = 3                      -- 1: user_level, 2: its caller, 3: the caller's caller
  while true do
    local info = debug.getinfo(level, "S")
    if info == nil then return 0 end
    if info.what ~= "C" and not in_library(info.source) then return level - 1 end
    level = level + 1
  end
end

-- raise msg at the user's line (see above)
function util.raise(msg)
  error(msg, util.user_level())
end

-- raise "<op>: <formatted message>" at the user's line
function util.fail(op, fmt, ...)
  error(op .. ": " .. string.format(fmt, ...), util.user_level())
end

-- util.op(fn [, as]) -> fn, whose errors are raised again at the user's
-- line: for a core function (whose message names the op but, called from
-- lunet's Lua code, would point at that code) called by the library on the
-- user's behalf.  `as` rewords the message: a function of it (nn.Module.op
-- adds the module path), or the name of what the user called, which
-- replaces the op's ("save: ..." -> "save_checkpoint: ...").  An error
-- object that is not a string goes on as it is.  Only the C function's own
-- frame is left out of the traceback.
local function relay(as, ok, ...)
  if ok then return ... end
  local err = ...
  if type(err) ~= "string" then error(err, 0) end
  if type(as) == "string" then err = as .. ": " .. (err:match("^[%w_.]+: (.*)$") or err)
  elseif as then err = as(err) end
  error(err, util.user_level())
end

function util.op(fn, as)
  return function(...) return relay(as, pcall(fn, ...)) end
end

-- A value whose closing runs fn: `local _ <close> = util.defer(fn)`.
-- Clean-up that must happen on error too (a file to close, a mode to put
-- back) without catching the error, so its traceback survives.
function util.defer(fn)
  return setmetatable({}, { __close = fn })
end

-- `local _ <close> = util.grad_mode(false)`: gradients off (or on) until
-- the scope ends, however it ends.  Unlike lunet.no_grad(fn) it needs no
-- function to run, and catches nothing.
function util.grad_mode(enabled)
  local lunet = require "lunet"
  local prev = lunet.set_grad_enabled(enabled)
  return util.defer(function() lunet.set_grad_enabled(prev) end)
end

-- `local _ <close> = util.eval_mode(model)`: model and every submodule in
-- eval mode until the scope ends, then each module's own training flag
-- back as it was.  Anything without modules() is left alone.
-- util.train_mode(model) is the same in training mode.
local function model_mode(model, training)
  if type(model) ~= "table" or type(model.modules) ~= "function" then return nil end
  local modes = {}
  for _, m in ipairs(model:modules()) do modes[m] = m.training end
  model:train(training)
  return util.defer(function()
    for m, mode in pairs(modes) do m.training = mode end
  end)
end
function util.eval_mode(model) return model_mode(model, false) end
function util.train_mode(model) return model_mode(model, true) end

-- ---------------------------------------------------------------- options

-- Optimal string alignment distance (edits, with swaps of two neighbours
-- counting as one): "bais" is 1 from "bias", "n_layers" 1 from "n_layer".
local function distance(a, b)
  local prev2, prev, cur = {}, {}, {}
  for j = 0, #b do prev[j] = j end
  for i = 1, #a do
    cur = { [0] = i }
    local ca = a:byte(i)
    for j = 1, #b do
      local cb = b:byte(j)
      local d = math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca == cb and 0 or 1))
      if i > 1 and j > 1 and ca == b:byte(j - 1) and a:byte(i - 1) == cb then
        d = math.min(d, prev2[j - 2] + 1)
      end
      cur[j] = d
    end
    prev2, prev = prev, cur
  end
  return prev[#b]
end
util.distance = distance

--[[
util.did_you_mean(name, candidates) -> the candidate name is a likely
misspelling of, or nil.  lunet's one near-miss rule, which the binding's
option check (lb_near in src/lua/lb_aux.c) implements the same way:
a candidate is close when its distance (above) from name is at most a
third of name's length (at least 1), or when both have 4 letters or more
and one holds the other ("heads" for "num_heads", "requires" for
"requires_grad"); of the close ones, the nearest, then the first in sorted
order.  Only a string has a near miss.
]]
function util.did_you_mean(name, candidates)
  if type(name) ~= "string" then return nil end
  local limit = math.max(1, #name // 3)
  local best, best_d = nil, math.huge
  for _, c in ipairs(candidates) do
    local d = distance(name, c)
    local close = d <= limit or (math.min(#name, #c) >= 4
                                 and (c:find(name, 1, true) or name:find(c, 1, true)))
    if close and (d < best_d or (d == best_d and c < best)) then best, best_d = c, d end
  end
  return best
end

-- s with each NUL byte written \0 (\000 before a digit), for a message:
-- the binding's lb_pushshown does the same
function util.shown(s)
  return (s:gsub("\0(%d?)", function(d) return (d == "" and "\\0" or "\\000") .. d end))
end

-- the names a table of known options lists: the strings of its array part
-- and its string keys (so a class spec {"dim", base = 10000} gives both
-- "dim" and "base", and a set {causal = true} gives "causal")
local function names_of(known, out, seen)
  for _, v in ipairs(known) do
    if type(v) == "string" and not seen[v] then seen[v] = true; out[#out + 1] = v end
  end
  for k in pairs(known) do
    if type(k) == "string" and not seen[k] then seen[k] = true; out[#out + 1] = k end
  end
  return out
end

--[[
util.check_options(op, opts, known1 [, known2, ...]) -> opts
The one check of an options table: opts must be nil or a table whose every
key is named by one of the known tables (lists of names, sets or tables of
defaults).  Otherwise it raises, at the user's line,
  <op>: unknown option '<name>' (did you mean '<near>'?)
(the hint only when a known name is a likely typo of it), or
  <op>: options must be a table, got <type>
With several unknown keys, the first in sorted order (of their tostring)
is named; the known options are listed sorted.  The binding's check
(lb_checkoptions) follows the same rules.
]]
function util.check_options(op, opts, ...)
  if opts == nil then return opts end
  if type(opts) ~= "table" then
    error(string.format("%s: options must be a table, got %s", op, type(opts)), util.user_level())
  end
  local names, seen = {}, {}
  for i = 1, select("#", ...) do names_of(select(i, ...), names, seen) end
  local bad, bad_key
  for k in pairs(opts) do
    if not seen[k] then
      local s = tostring(k)
      if bad == nil or s < bad then bad, bad_key = s, k end
    end
  end
  if bad == nil then return opts end
  table.sort(names)
  local near = util.did_you_mean(bad_key, names)
  error(string.format("%s: unknown option '%s' (%s)", op, util.shown(bad),
                      near and string.format("did you mean '%s'?", near)
                        or "known options: " .. table.concat(names, ", ")),
        util.user_level())
end

-- "'a', 'b' or 'c'" for a message listing choices (sorted)
function util.choices(list)
  local quoted = {}
  for i, v in ipairs(list) do quoted[i] = "'" .. tostring(v) .. "'" end
  table.sort(quoted)
  if #quoted <= 1 then return quoted[1] or "" end
  return table.concat(quoted, ", ", 1, #quoted - 1) .. " or " .. quoted[#quoted]
end

-- ---------------------------------------------------------------- shapes

-- "{2,3,4}" for a tensor or a shape (a list of sizes), as error messages
-- and tables print shapes
function util.shape_str(t)
  local shape = type(t) == "table" and t or t:shape()
  return "{" .. table.concat(shape, ",") .. "}"
end

-- ---------------------------------------------------------------- tables of text

-- 1234567 -> "1,234,567" (rounded to an integer)
function util.commas(n)
  local s = string.format("%.0f", n)
  local sign, digits = s:match("^(-?)(%d+)$")
  if not digits then return s end   -- inf, nan
  digits = digits:reverse():gsub("(%d%d%d)", "%1,"):reverse():gsub("^,", "")
  return sign .. digits
end

--[[
util.text_table(cells [, {left = 1, markdown = false}]) -> string: cells[1]
is the header row, the rest data rows, all of strings.  The first `left`
columns are aligned left, the others right; with markdown, a GitHub table.
]]
function util.text_table(cells, opts)
  opts = opts or {}
  local left = opts.left or 1
  local lines = {}
  if opts.markdown then
    for i, c in ipairs(cells) do
      lines[#lines + 1] = "| " .. table.concat(c, " | ") .. " |"
      if i == 1 then
        local rule = {}
        for j = 1, #c do rule[j] = j <= left and ":---" or "---:" end
        lines[#lines + 1] = "|" .. table.concat(rule, "|") .. "|"
      end
    end
    return table.concat(lines, "\n")
  end
  local width = {}
  for _, c in ipairs(cells) do
    for j, s in ipairs(c) do width[j] = math.max(width[j] or 0, #s) end
  end
  for i, c in ipairs(cells) do
    local parts = {}
    for j, s in ipairs(c) do
      local pad = string.rep(" ", width[j] - #s)
      parts[j] = j <= left and s .. pad or pad .. s
    end
    lines[#lines + 1] = (table.concat(parts, "  "):gsub("%s+$", ""))
    if i == 1 and opts.rule then
      local rule = {}
      for j = 1, #c do rule[j] = string.rep("-", width[j]) end
      lines[#lines + 1] = table.concat(rule, "  ")
    end
  end
  return table.concat(lines, "\n")
end

-- ---------------------------------------------------------------- files

-- a CSV cell: "" for nil, integers as they are, other numbers to 9
-- significant digits (a float32 reads back exactly)
function util.csv_cell(v)
  if v == nil then return "" end
  if math.type(v) == "integer" then return tostring(v) end
  if type(v) == "number" then return string.format("%.9g", v) end
  return tostring(v)
end

-- the whole file, or nil if it cannot be opened
function util.read_file(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

-- ---------------------------------------------------------------- plain data

--[[
util.serialize(v, op, where) -> a Lua expression that rebuilds v: numbers
exactly (integers stay integers; nan and infinities too), strings,
booleans and tables of them, keys sorted so the text is stable.  What
cannot travel (a function, a tensor, a userdata) is an error
"<op>: cannot pass a <type> to <where>".  util.deserialize(text, name)
reads it back (in an empty environment: it runs no one's code).  The
sweep's worker processes and lunet.distributed's ranks pass values so.
]]
function util.serialize(v, op, where)
  local t = type(v)
  if t == "number" then
    if math.type(v) == "integer" then return string.format("%d", v) end
    if v ~= v then return "0/0" end
    if v == math.huge then return "1/0" end
    if v == -math.huge then return "-1/0" end
    return string.format("%.17g", v)
  elseif t == "string" then
    return string.format("%q", v)
  elseif t == "boolean" or t == "nil" then
    return tostring(v)
  elseif t == "table" then
    local keys = {}
    for k in pairs(v) do keys[#keys + 1] = k end
    table.sort(keys, function(a, b)
      if type(a) == type(b) then return a < b end
      return type(a) == "number"
    end)
    local parts = {}
    for _, k in ipairs(keys) do
      parts[#parts + 1] = "[" .. util.serialize(k, op, where) .. "]=" .. util.serialize(v[k], op, where)
    end
    return "{" .. table.concat(parts, ",") .. "}"
  end
  util.fail(op, "cannot pass a %s to %s", t, where)
end

function util.deserialize(text, name)
  local f = assert(load("return " .. text, "=" .. (name or "deserialize"), "t", {}))
  return f()
end

-- ---------------------------------------------------------------- warnings

-- util.warn(msg): "lunet: warning: <msg>" on stderr, once per message
-- text (a model built in a loop warns once).  util.warning_sink, when set,
-- receives the message instead (specs use it; so can a program that wants
-- warnings to be errors).
local warned = {}

function util.warn(msg)
  if util.warning_sink then return util.warning_sink(msg) end
  if warned[msg] then return end
  warned[msg] = true
  io.stderr:write("lunet: warning: ", msg, "\n")
end

-- ---------------------------------------------------------------- tables

-- whether f can be called as a method: a C function, or a Lua function
-- whose first parameter is self (the REPL's completion and lunet.doc ask)
function util.is_method(f)
  if type(f) ~= "function" then return false end
  return debug.getinfo(f, "S").what == "C" or debug.getlocal(f, 1) == "self"
end

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
