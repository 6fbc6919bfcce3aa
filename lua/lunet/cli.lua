--[[
lunet.cli: the one command-line parser of lunet's scripts (every example
uses it): Debian's lua-argparse, with lunet's conventions.

  local cli = require "lunet.cli"
  local parser = cli.parser("char_lm.lua", "A character-level language model.")
  parser:argument("file", "a text file")
  parser:option("--steps", "optimiser steps"):default("600"):convert(cli.int(1))
  local o = cli.parse(parser)                 -- the script's arg table

-h/--help prints the help on stdout and exits 0; a usage error (an
unknown option, a missing or bad value) prints the usage and the error
on stderr and exits 2, as does parser:error(msg) for a check made after
parsing.
]]
local cli = {}

-- a usage error: the usage and the message on stderr, exit status 2
local function usage_error(self, msg)
  io.stderr:write(string.format("%s\n\nError: %s\n", self:get_usage(), msg))
  io.stderr:flush()
  os.exit(2)
end

--[[
cli.parser(name, description [, epilog]) -> an argparse parser named
`name` (the script's file name) whose errors exit 2.
]]
function cli.parser(name, description, epilog)
  local argparse = require "argparse"
  local p = argparse(name, description, epilog)
  p.error = usage_error
  return p
end

-- the spellings of parser's options that take a value ("--steps", "-s")
local function valued(parser)
  local out = {}
  for _, opt in ipairs(rawget(parser, "_options") or {}) do
    if (opt._maxargs or 0) > 0 then
      for _, name in ipairs(opt._aliases or {}) do out[name] = true end
    end
  end
  return out
end

-- cli.parse(parser [, args = arg]) -> the parsed options.  A negative
-- number after an option that takes a value is that value (--steps -3
-- reaches the option's check, which can say what is wrong with it), not
-- an unknown option '-3' as argparse alone would have it.
function cli.parse(parser, args)
  local takes, a, src, i = valued(parser), {}, args or arg or {}, 1
  while src[i] ~= nil do
    local v, value = src[i], src[i + 1]
    if takes[v] and type(value) == "string" and value:match("^%-%.?%d") then
      a[#a + 1] = v:sub(1, 2) == "--" and v .. "=" .. value or v .. value
      i = i + 2
    else
      a[#a + 1] = v
      i = i + 1
    end
  end
  return parser:parse(a)
end

-- ---------------------------------------------------------------- converters

-- cli.number(lo): a converter of a number >= lo (any number without lo)
function cli.number(lo)
  return function(s)
    local n = tonumber(s)
    if n == nil or n ~= n or (lo and n < lo) then
      return nil, string.format("'%s' is not a number%s", s, lo and " >= " .. lo or "")
    end
    return n
  end
end

-- cli.int(lo): a converter of an integer >= lo
function cli.int(lo)
  return function(s)
    local n = math.tointeger(tonumber(s))
    if n == nil or (lo and n < lo) then
      return nil, string.format("'%s' is not an integer%s", s, lo and " >= " .. lo or "")
    end
    return n
  end
end

-- cli.list(convert): a converter of a comma-separated list, each item by
-- convert (a converter as above); an empty list is an error
function cli.list(convert)
  return function(s)
    local out = {}
    for item in s:gmatch("[^,%s]+") do
      local v, err = convert(item)
      if v == nil then return nil, string.format("in '%s': %s", s, err or "bad item '" .. item .. "'") end
      out[#out + 1] = v
    end
    if #out == 0 then return nil, "an empty list" end
    return out
  end
end

--[[
cli.flags(parser, flags [, apply_defaults = true]): one option per entry
{name, default, help [, convert]} of a script's table of flags: a boolean
default makes a flag (--name), a number default a number option (or
convert, a converter such as cli.int(1), checks the value); the value is
found under the name as written (o["seq-len"]).  Defaults are shown in
--help, and applied unless apply_defaults is false (a script whose
presets fill what was not given applies them itself).
]]
function cli.flags(parser, flags, apply_defaults)
  for _, f in ipairs(flags) do
    local name, default, help = f[1], f[2], f[3]
    if type(default) == "boolean" then
      parser:flag("--" .. name, help):target(name)
    else
      local opt = parser:option("--" .. name, help):target(name)
      if default == "" then
        if apply_defaults ~= false then opt:default(""):show_default(false) end
      elseif default ~= nil then
        if apply_defaults == false then
          opt:description(help .. " (default: " .. tostring(default) .. ")")
        else
          opt:default(tostring(default))
        end
      end
      local convert = f[4] or (type(default) == "number" and cli.number())
      if convert then opt:convert(convert) end
    end
  end
  return parser
end

return cli
