--[==[
lunet.doc: the documentation of lunet's functions, classes and methods,
as `help(obj)` and `?name` show it in the REPL.

The text is kept beside the code: a Lua function's documentation is the
comment right above its definition (a --[[ ]] block or a run of -- lines),
a class's the comment above its Module:extend line (else its file's
opening comment), a namespace's (lunet.optim, lunet.train, ...) its
file's opening comment.  What has no comment of its own to read -- the
core's C functions and Tensor methods, and objects that factories make
(the optimisers, the toy tasks) -- is documented in lunet/doc_table.lua.

  doc.help(v)            print the documentation of a value or a name
  doc.text(v)            the same as a string (nil if there is none)
  doc.catalogue()        every documented name, in order: {name, value,
                         kind = "namespace" | "class" | "function" | "method"}
  doc.resolve(s)         a name as typed ("lunet.zeros", "x:matmul",
                         "nn.Linear", "matmul") -> the canonical name, or
                         nil and the candidates when it is ambiguous
]==]
local doc = {}

-- the namespaces documented, in the order their members are listed; a
-- value reachable under several names is documented under the first
doc.NAMESPACES = {
  "lunet", "lunet.nn", "lunet.nn.functional", "lunet.nn.init", "lunet.optim", "lunet.optim.schedule",
  "lunet.data", "lunet.profile", "lunet.progress", "lunet.train", "lunet.compare", "lunet.sweep",
  "lunet.plot", "lunet.autograd", "lunet.checkpoint", "lunet.inspect", "lunet.cli",
  "lunet.distributed",
}

-- methods a class defines as part of the protocol its base class runs:
-- documented once, by the base class
local PROTOCOL = { init = true, forward = true, extra_repr = true, check = true, step = true }

-- members meant for lunet's own classes (writing a layer, an optimiser),
-- not listed: a class marks them in its `_internal` set (nn.Module's,
-- Optimizer's), and the documentation of the class explains them
local function internal(cls)
  return type(cls) == "table" and rawget(cls, "_internal") or {}
end

-- ---------------------------------------------------------------- reading comments

local table_ -- lunet/doc_table.lua, loaded when first needed

local lines_cache = {}

local function file_lines(path)
  local lines = lines_cache[path]
  if lines == nil then
    lines = false
    local f = io.open(path, "r")
    if f then
      lines = {}
      for l in f:lines() do lines[#lines + 1] = l end
      f:close()
    end
    lines_cache[path] = lines
  end
  return lines or nil
end

-- remove the indentation every non-blank line shares, and blank edges
local function dedent(list)
  local common
  for _, l in ipairs(list) do
    if l:find("%S") then
      local ind = #l:match("^%s*")
      common = common and math.min(common, ind) or ind
    end
  end
  local out = {}
  for _, l in ipairs(list) do out[#out + 1] = l:sub((common or 0) + 1) end
  while out[1] and not out[1]:find("%S") do table.remove(out, 1) end
  while out[#out] and not out[#out]:find("%S") do out[#out] = nil end
  if #out == 0 then return nil end
  return table.concat(out, "\n")
end

-- a "-- ----- section" rule: not documentation
local function is_rule(l) return l:match("^%s*%-%-%s*%-%-%-%-") ~= nil end

-- the comment that ends on line `last` of lines: a --[[ ]] block or a run
-- of -- lines (nil when line `last` is not the end of a comment)
local function comment_ending(lines, last)
  local l = lines[last]
  if l == nil then return nil end
  if l:match("^%s*%]%]%s*$") or (l:match("%]%]%s*$") and not l:match("^%s*%-%-[^%[]")) then
    for i = last, math.max(1, last - 200), -1 do
      local head, rest = lines[i]:match("^(%s*%-%-%[=*%[)(.*)$")
      if head then
        local body = { rest }
        for j = i + 1, last do body[#body + 1] = lines[j] end
        body[#body] = body[#body]:gsub("%]=*%]%s*$", "")
        return dedent(body)
      end
    end
    return nil
  end
  if not l:match("^%s*%-%-") or is_rule(l) then return nil end
  local first = last
  while first > 1 and lines[first - 1]:match("^%s*%-%-") and not is_rule(lines[first - 1])
        and not lines[first - 1]:match("^%s*%-%-%[") do
    first = first - 1
  end
  local body = {}
  for i = first, last do body[#body + 1] = (lines[i]:gsub("^%s*%-%- ?", "")) end
  return dedent(body)
end

local function source_path(source)
  return type(source) == "string" and source:match("^@(.+)$")
end

-- the comment right above line `line` of the file
function doc.comment_above(source, line)
  local path = source_path(source)
  local lines = path and file_lines(path)
  return lines and comment_ending(lines, line - 1)
end

-- the comment a file opens with (after a #! line)
function doc.file_comment(path)
  local lines = file_lines(path)
  if not lines then return nil end
  local first = lines[1] and lines[1]:match("^#!") and 2 or 1
  local l = lines[first]
  if l == nil then return nil end
  if l:match("^%-%-%[=*%[") then
    for i = first, #lines do
      if lines[i]:match("%]=*%]%s*$") then return comment_ending(lines, i) end
    end
    return nil
  end
  local last = first - 1
  while lines[last + 1] and lines[last + 1]:match("^%-%-") and not is_rule(lines[last + 1]) do
    last = last + 1
  end
  return last >= first and comment_ending(lines, last) or nil
end

-- ---------------------------------------------------------------- the catalogue

local function lunet_() return require "lunet" end

local function is_module_class(v)
  return type(v) == "table" and rawget(v, "__name") ~= nil and v.__module == true
end

local function is_callable_table(v)
  local mt = type(v) == "table" and getmetatable(v)
  return type(mt) == "table" and mt.__call ~= nil
end

-- a table of methods that is not a namespace: a module or optimiser class,
-- the Tensor method table
local function is_class(v)
  if type(v) ~= "table" then return false end
  return is_module_class(v) or (is_callable_table(v) and type(rawget(v, "name")) == "string"
                                and rawget(v, "hyper") ~= nil)
         or v == lunet_().Tensor or v == require("lunet.optim").Optimizer
end

local is_method = require("lunet.util").is_method

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do
    if type(k) == "string" and not k:match("^_") then keys[#keys + 1] = k end
  end
  table.sort(keys)
  return keys
end

local catalogue, by_value, by_name

local function add(entry)
  if by_name[entry.name] then return end
  catalogue[#catalogue + 1] = entry
  by_name[entry.name] = entry
  if entry.value ~= nil and by_value[entry.value] == nil then by_value[entry.value] = entry end
end

local function class_members(name, cls)
  local skip = internal(cls)
  local lunet = lunet_()
  for _, k in ipairs(sorted_keys(cls)) do
    local f = rawget(cls, k)
    if type(f) == "function" and not PROTOCOL[k] and not skip[k] then
      local sep = (cls == lunet.Tensor or is_method(f)) and ":" or "."
      local full = name .. sep .. k
      if by_value[f] then   -- the same function under another name (x:exp is lunet.exp)
        by_name[full] = { name = full, value = f, kind = "alias", of = by_value[f].name }
      else
        add { name = full, value = f, kind = sep == ":" and "method" or "function", parent = name }
      end
    end
  end
end

-- a namespace's public names: its own and those it loads lazily (lunet's)
local function public_names(ns)
  local names = sorted_keys(ns)
  local mt = getmetatable(ns)
  local lazy = type(mt) == "table" and rawget(mt, "__lazy")
  if type(lazy) == "table" then
    for _, k in ipairs(sorted_keys(lazy)) do
      if rawget(ns, k) == nil then names[#names + 1] = k end
    end
    table.sort(names)
  end
  return names
end

local function walk(path, ns)
  add { name = path, value = ns, kind = "namespace" }
  local classes = {}
  for _, k in ipairs(public_names(ns)) do      -- functions first: x:exp is lunet.exp
    local v = ns[k]
    local full = path .. "." .. k
    local known = by_value[v]
    if known and known.name ~= full then
      by_name[full] = { name = full, value = v, kind = "alias", of = known.name }
    elseif type(v) == "function" then
      add { name = full, value = v, kind = "function", parent = path }
    elseif is_class(v) then
      classes[#classes + 1] = k
    end
  end
  for _, k in ipairs(classes) do
    local v, full = ns[k], path .. "." .. k
    local class_name = is_module_class(v) and rawget(v, "__name")
    if class_name and class_name ~= k and ns[class_name] == v then   -- nn.MHA: an alias
      by_name[full] = { name = full, value = v, kind = "alias", of = path .. "." .. class_name }
    elseif not by_value[v] then
      add { name = full, value = v, kind = "class", parent = path }
      class_members(full, v)
    end
  end
end

-- classes that no namespace exports, documented in doc_table.lua: the
-- module that is the class, so that help(task) finds it
local HIDDEN_CLASSES = { ["lunet.data.Task"] = "lunet.data.task" }

-- a namespace by its path: a field along lunet ("lunet.nn.init"), else
-- the module of that name ("lunet.progress")
local function namespace(path)
  local v = lunet_()
  for part in path:gmatch("%.([^.]+)") do
    v = type(v) == "table" and v[part] or nil
  end
  if type(v) ~= "table" then v = require(path) end
  return v
end

local function build()
  catalogue, by_value, by_name = {}, {}, {}
  for _, path in ipairs(doc.NAMESPACES) do walk(path, namespace(path)) end
  -- what only doc_table documents (Optimizer:step, the tasks' methods)
  table_ = table_ or require "lunet.doc_table"
  local extra = sorted_keys(table_)
  for _, name in ipairs(extra) do
    if not by_name[name] then
      local parent, sep = name:match("^(.*)([.:])[%w_]+$")
      local class = HIDDEN_CLASSES[name] and require(HIDDEN_CLASSES[name])
      local kind = sep == ":" and "method" or (class and "class" or "field")   -- x.grad, data.tasks
      add { name = name, value = class, kind = kind, parent = parent }
    end
  end
end

function doc.catalogue()
  if catalogue == nil then build() end
  return catalogue
end

-- ---------------------------------------------------------------- the text of an entry

local function module_file(value)
  for name, v in pairs(package.loaded) do
    if v == value and type(name) == "string" then
      return package.searchpath(name, package.path)
    end
  end
end

local function entry_text(e)
  table_ = table_ or require "lunet.doc_table"
  if table_[e.name] then return table_[e.name] end
  local v = e.value
  if e.kind == "alias" then
    local t = doc.entry_text_of(e.of)
    return (t and t .. "\n\n" or "") .. "(" .. e.name .. " is " .. e.of .. ")"
  end
  if type(v) == "function" then
    local info = debug.getinfo(v, "S")
    if info.what == "Lua" then return doc.comment_above(info.source, info.linedefined) end
    return nil
  end
  local where = is_module_class(v) and rawget(v, "__defined")
  if where then
    return doc.comment_above(where.source, where.line) or
           (source_path(where.source) and doc.file_comment(source_path(where.source)))
  end
  if type(v) == "table" then
    local path = module_file(v)
    if path then return doc.file_comment(path) end
  end
  return nil
end

function doc.entry_text_of(name)
  doc.catalogue()
  local e = by_name[name]
  return e and entry_text(e)
end

-- ---------------------------------------------------------------- names and values

local function canonical(e)
  if e and e.kind == "alias" then return by_name[e.of] or e end
  return e
end

-- the class of an instance: a module's, an optimiser's, a tensor's
local function class_of(v)
  local lunet = lunet_()
  if lunet.is_tensor(v) then return by_name["lunet.Tensor"] end
  local mt = getmetatable(v)
  if type(mt) == "table" then
    return by_value[mt] or (type(mt.__index) == "table" and by_value[mt.__index]) or nil
  end
end

-- the entry of a value (nil when it is not documented)
function doc.entry_of(v)
  doc.catalogue()
  return canonical(by_value[v]) or class_of(v)
end

-- evaluate "a.b:c" against the globals (and lunet) without calling anything
-- but __index; nil when it does not name something
local function lookup(s)
  local ok, v = pcall(function()
    local head, rest = s:match("^([%a_][%w_]*)(.*)$")
    if not head then return nil end
    local v = rawget(_G, head)
    if v == nil then v = lunet_()[head] end
    for sep, part in rest:gmatch("([.:])([%a_][%w_]*)") do
      if type(v) ~= "table" and not lunet_().is_tensor(v) then return nil end
      v = v[part]
      if v == nil then return nil end
    end
    if rest:gsub("[.:][%a_][%w_]*", "") ~= "" then return nil end
    return v
  end)
  if ok then return v end
end

--[[
doc.resolve(s) -> name | nil, candidates: s as typed after `?`.
Tried in turn: a documented name ("lunet.zeros"), the same under lunet
("zeros", "nn.Linear"), a value reachable from the globals ("x:matmul"
with x a tensor, "m" a module), and the documented names ending in s
(".matmul", ":matmul"): one is the answer, several are the candidates.
]]
function doc.resolve(s)
  doc.catalogue()
  s = s:gsub("^%s+", ""):gsub("[%s%(%)]+$", "")
  for _, n in ipairs { s, "lunet." .. s } do
    if by_name[n] then return canonical(by_name[n]).name end
  end
  -- a tensor's field (x.grad): the field, not the value it holds
  local obj, fieldname = s:match("^(.-)%.([%a_][%w_]*)$")
  if obj and lunet_().is_tensor(lookup(obj)) and by_name["lunet.Tensor." .. fieldname] then
    return "lunet.Tensor." .. fieldname
  end
  local v = lookup(s)
  if v ~= nil then
    local e = doc.entry_of(v)
    if e then return e.name end
    local obj, method = s:match("^(.-)[.:]([%a_][%w_]*)$")
    local owner = obj and lookup(obj)
    local ce = owner ~= nil and doc.entry_of(owner)
    if ce then   -- a method an instance inherits: look along its classes
      for _, n in ipairs { ce.name .. ":" .. method, ce.name .. "." .. method,
                           "lunet.nn.Module:" .. method, "lunet.optim.Optimizer:" .. method } do
        if by_name[n] then return canonical(by_name[n]).name end
      end
    end
  end
  local tail = s:match("[.:]?([%a_][%w_]*)$")
  local found = {}
  if tail then
    for _, e in ipairs(catalogue) do
      if e.name:match("[.:]" .. tail .. "$") then found[#found + 1] = e.name end
    end
  end
  if #found == 1 then return found[1] end
  return nil, found
end

-- ---------------------------------------------------------------- help

local function first_line(text)
  return text and text:match("^[^\n]*") or "(undocumented)"
end

-- the members listed under a namespace or class: name, summary
local function members(e)
  local out = {}
  for _, m in ipairs(catalogue) do
    if m.parent == e.name then out[#out + 1] = m end
  end
  -- a module class lists the methods it inherits from nn.Module too (not
  -- what makes classes), an optimiser what it has from Optimizer
  local base, skip
  if is_module_class(e.value) and e.name ~= "lunet.nn.Module" then
    base = "lunet.nn.Module"
    skip = require("lunet.nn.module")._class_only
  elseif e.kind == "class" and is_class(e.value) and e.value ~= lunet_().Tensor
         and e.name ~= "lunet.optim.Optimizer" and not is_module_class(e.value) then
    base, skip = "lunet.optim.Optimizer", {}
  end
  if base then
    for _, m in ipairs(catalogue) do
      local short = m.name:match("[.:]([%w_]+)$")
      if m.parent == base and (rawget(e.value, short) == nil or PROTOCOL[short]) and not skip[short] then
        out[#out + 1] = m
      end
    end
  end
  return out
end

--[[
doc.text(v) -> the help text of v (a value, or a name as a string), or
nil and why.  A namespace or class lists its members, each with the
first line of its documentation.
]]
function doc.text(v)
  local e
  if type(v) == "string" then
    local name, candidates = doc.resolve(v)
    if not name then
      if candidates and #candidates > 1 then
        return nil, string.format("'%s' is ambiguous: %s", v, table.concat(candidates, ", "))
      end
      return nil, string.format("no documentation for '%s'", v)
    end
    e = by_name[name]
  else
    e = doc.entry_of(v)
    if not e then return nil, "no documentation for this " .. type(v) end
  end
  local lines = { e.name, string.rep("=", #e.name), entry_text(e) or "(undocumented)" }
  if e.kind == "namespace" or e.kind == "class" then
    local list = members(e)
    if #list > 0 then
      lines[#lines + 1] = ""
      lines[#lines + 1] = e.kind == "class" and "Methods:" or "Members:"
      local w = 0
      for _, m in ipairs(list) do w = math.max(w, #m.name - #m.parent) end
      for _, m in ipairs(list) do
        local short = m.name:sub(#m.parent + 1)
        lines[#lines + 1] = string.format("  %-" .. w .. "s  %s", short, first_line(entry_text(m)))
      end
    end
  end
  return table.concat(lines, "\n")
end

-- help(v): print doc.text(v), or say why there is none; help() alone
-- says how to use it
function doc.help(v, ...)
  if select("#", ...) == 0 and v == nil then
    print(doc.intro())
    return
  end
  local text, why = doc.text(v)
  print(text or why)
end

--[[
doc.markdown_index() -> the README's API index: one line per namespace
and class, listing its documented members (tools/api_index.lua writes it
into README.md; spec/doc_spec.lua checks that it is up to date).
]]
function doc.markdown_index()
  local lines = {}
  for _, e in ipairs(doc.catalogue()) do
    do   -- any entry with members: namespaces, classes, callable modules (lunet.inspect)
      local names = {}
      for _, m in ipairs(catalogue) do
        if m.parent == e.name then names[#names + 1] = "`" .. m.name:sub(#e.name + 2) .. "`" end
      end
      if #names > 0 then
        local line = "- **" .. e.name .. "**" .. (e.kind == "class" and " (class)" or "") .. ": "
        lines[#lines + 1] = line .. table.concat(names, ", ")
      end
    end
  end
  return table.concat(lines, "\n")
end

-- help() alone: how to ask, and every namespace (doc.NAMESPACES)
function doc.intro()
  local names = { "lunet.Tensor", "lunet.nn.Module" }
  for _, ns in ipairs(doc.NAMESPACES) do names[#names + 1] = ns end
  local lines, line = {}, "The namespaces and base classes:"
  for i, n in ipairs(names) do
    local word = " " .. n .. (i < #names and "," or ".")
    if #line + #word > 72 then lines[#lines + 1] = line; line = word:sub(2) else line = line .. word end
  end
  lines[#lines + 1] = line
  return table.concat({ [[
help(obj) or ?name shows the documentation of any lunet function, class,
method or namespace: help(lunet.zeros), help(model), ?lunet.nn.Linear,
?x:matmul, ?x.grad, ?optim.AdamW, ?matmul.]], table.concat(lines, "\n"), [[
In the REPL: TAB completes names, fields, methods and file names (inside
a string); :time on|off prints each command's wall time; =expr prints
expr; _LAST is the last result; :help lists the REPL's commands.]] }, "\n")
end

return doc
