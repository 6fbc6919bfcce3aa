-- The `lunet` program (src/main.c): options, scripts and their `arg`,
-- exit statuses, stdin, and the REPL driven through a pipe.
-- The program under test is $LUNET_PROGRAM (the sanitized build under
-- `make sanitize`, where a leak at exit also fails the run).
local lu = require "luaunit"

local PROG = os.getenv("LUNET_PROGRAM")

-- quote s for sh
local function q(s)
  return "'" .. tostring(s):gsub("'", [['\'']]) .. "'"
end

local function slurp(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

local function spit(path, s)
  local f = assert(io.open(path, "wb"))
  f:write(s)
  f:close()
end

-- temp files made by a test, removed by teardown
local temps = {}
local function tmpfile(contents)
  local name = os.tmpname()
  temps[#temps + 1] = name
  if contents then spit(name, contents) end
  return name
end

--[[
Run `PROG args` with stdin from `input` (a string, or /dev/null) and
return {out=, err=, code=}.  `env` is a prefix such as "FOO=1 ".  The
history file is a temp path so no test writes the user's history.
--]]
local function run(args, input, env)
  local inf = input and tmpfile(input) or "/dev/null"
  local errf = tmpfile()
  local hist = tmpfile()
  local cmd = string.format("LUNET_HISTORY=%s %s%s %s <%s 2>%s",
    q(hist), env or "", q(PROG), args or "", q(inf), q(errf))
  local p = assert(io.popen(cmd, "r"))
  local out = p:read("a")
  local _, how, code = p:close()
  lu.assertEquals(how, "exit", "program killed by a signal: " .. cmd)
  return { out = out, err = slurp(errf), code = code }
end

-- the REPL on a pipe: every line of `lines` typed in turn
local function repl(lines, env)
  return run("", table.concat(lines, "\n") .. "\n", env)
end

local function ok(r)
  lu.assertEquals(r.code, 0, "exit status; stderr: " .. r.err)
end

local function has(s, text, what)
  lu.assertStrContains(s, text, false, what)
end

TestProgram = {}

function TestProgram:setUp()
  lu.skipIf(PROG == nil, "LUNET_PROGRAM not set (run through make test)")
end

function TestProgram:tearDown()
  for _, f in ipairs(temps) do os.remove(f) end
  temps = {}
end

-- ---------------------------------------------------------------- options

function TestProgram:test_version()
  for _, opt in ipairs{"--version", "-v"} do
    local r = run(opt)
    ok(r)
    local first = r.out:match("^[^\n]*")
    lu.assertStrMatches(first, "lunet %d+%.%d+%.%d+.*")
    has(first, "Lua 5.4")
    -- the C macro and the Lua library must agree on the version
    local lib = run([[-e 'io.write(lunet._VERSION or "")']]).out
    if lib ~= "" then lu.assertEquals(first:sub(1, #lib), lib) end
    lu.assertEquals(r.err, "")
  end
end

function TestProgram:test_version_runs_nothing_else()
  -- -v alone must not start the REPL (stdin would be read)
  local r = run("-v", "print('read from stdin')\n")
  ok(r)
  lu.assertNotStrContains(r.out, "read from stdin")
end

function TestProgram:test_help()
  for _, opt in ipairs{"--help", "-h"} do
    local r = run(opt)
    ok(r)
    has(r.out, "usage: lunet")
    for _, o in ipairs{"-e", "-i", "-l", "--version", "--help", "--"} do
      has(r.out, o)
    end
  end
end

function TestProgram:test_unknown_option()
  local r = run("--frobnicate")
  lu.assertEquals(r.code, 1)
  has(r.err, "unrecognized option '--frobnicate'")
  has(r.err, "usage: lunet")
  lu.assertEquals(r.out, "")
  r = run("-x script.lua")
  lu.assertEquals(r.code, 1)
  has(r.err, "'-x'")
end

function TestProgram:test_option_needs_argument()
  local r = run("-e")
  lu.assertEquals(r.code, 1)
  has(r.err, "'-e' needs argument")
  has(r.err, "usage:")
end

function TestProgram:test_execute_is_repeatable_and_ordered()
  local r = run("-e 'x = 20' -e 'x = x + 1' -e 'print(x * 2)'")
  ok(r)
  lu.assertEquals(r.out, "42\n")
  r = run("-e'print(\"attached\")'")   -- -estat, as in lua
  ok(r)
  lu.assertEquals(r.out, "attached\n")
end

function TestProgram:test_execute_error()
  local r = run("-e 'error(\"nope 100%\")' -e 'print(\"not reached\")'")
  lu.assertEquals(r.code, 1)
  has(r.err, "lunet: (command line):1: nope 100%")
  lu.assertEquals(r.out, "")
  r = run("-e 'x ='")
  lu.assertEquals(r.code, 1)
  has(r.err, "lunet: (command line)")
end

function TestProgram:test_library_option()
  local lib = tmpfile("return { answer = 42 }\n")
  local dir, name = lib:match("^(.*)/([^/]+)$")
  local env = string.format("LUA_PATH=%s ", q(dir .. "/?;;"))
  local r = run(string.format("-l %s -e 'print(_G[%q].answer)'", q(name), name), nil, env)
  ok(r)
  lu.assertEquals(r.out, "42\n")
  r = run("-l no_such_module_xyz")
  lu.assertEquals(r.code, 1)
  has(r.err, "no_such_module_xyz")
end

-- ---------------------------------------------------------------- lunet preloaded

function TestProgram:test_lunet_is_a_global()
  local r = run([[-e 'print(type(lunet), package.loaded.lunet == lunet, type(lunet.zeros))']])
  ok(r)
  lu.assertEquals(r.out, "table\ttrue\tfunction\n")
end

function TestProgram:test_core_is_linked_in()
  -- no core.so anywhere on LUA_CPATH: the core must come from preload
  local r = run([[-e 'print(package.preload["lunet.core"] ~= nil, package.loaded["lunet.core"] ~= nil)']],
                nil, "LUA_CPATH=/nonexistent/?.so ")
  ok(r)
  lu.assertEquals(r.out, "true\ttrue\n")
end

function TestProgram:test_finds_library_from_its_tree()
  -- no LUA_PATH: lua/ beside build/bin/ must be found from the executable
  local r = run([[-e 'print(package.searchpath("lunet", package.path))']],
                nil, "env -u LUA_PATH -u LUA_PATH_5_4 ")
  ok(r)
  lu.assertStrMatches(r.out, ".*/lua/lunet/init%.lua\n")
end

function TestProgram:test_user_lua_path_still_works()
  local mod = tmpfile("return 'mine'\n")
  local dir, name = mod:match("^(.*)/([^/]+)$")
  local r = run(string.format("-e 'print((require(%q)))'", name), nil,
                string.format("LUA_PATH=%s ", q(dir .. "/?;;")))
  ok(r)
  lu.assertEquals(r.out, "mine\n")
end

-- ---------------------------------------------------------------- scripts

function TestProgram:test_script_with_args()
  local script = tmpfile([[
print(arg[0])
print(#arg, arg[1], arg[2], arg[3])
print(select("#", ...), ...)
]])
  local r = run(q(script) .. " alpha 'two words' ''")
  ok(r)
  lu.assertEquals(r.out, script .. "\n" ..
                         "3\talpha\ttwo words\t\n" ..
                         "3\talpha\ttwo words\t\n")
  lu.assertEquals(r.err, "")
end

function TestProgram:test_arg_negative_indices()
  local script = tmpfile("print(arg[-3], arg[-2], arg[-1], arg[0] ~= nil, arg[1])\n")
  local r = run(string.format("-e 'x=1' %s a", q(script)))
  ok(r)
  lu.assertEquals(r.out, PROG .. "\t-e\tx=1\ttrue\ta\n")
  -- without a script, arg[0] is the program and options are positive
  r = run([[-e 'print(arg[0], arg[1], #arg)']])
  ok(r)
  lu.assertEquals(r.out, PROG .. "\t-e\t2\n")
end

function TestProgram:test_script_after_double_dash()
  local script = tmpfile("print('ran', ...)\n")
  local r = run("-- " .. q(script) .. " -v")
  ok(r)
  lu.assertEquals(r.out, "ran\t-v\n")
end

function TestProgram:test_script_shebang_line()
  local script = tmpfile("#!/usr/bin/env lunet\nprint('ok')\n")
  local r = run(q(script))
  ok(r)
  lu.assertEquals(r.out, "ok\n")
end

function TestProgram:test_script_runtime_error()
  local script = tmpfile("local function f() error('kaboom 50%') end\nprint('before')\nf()\nprint('after')\n")
  local r = run(q(script))
  lu.assertEquals(r.code, 1)
  lu.assertEquals(r.out, "before\n")
  has(r.err, "lunet: " .. script .. ":1: kaboom 50%")
  has(r.err, "stack traceback:")
end

function TestProgram:test_script_error_objects()
  local script = tmpfile("error({})\n")
  local r = run(q(script))
  lu.assertEquals(r.code, 1)
  has(r.err, "(error object is a table value)")
  script = tmpfile("error(setmetatable({}, {__tostring = function() return 'custom' end}))\n")
  r = run(q(script))
  lu.assertEquals(r.code, 1)
  has(r.err, "lunet: custom")
end

function TestProgram:test_script_syntax_error()
  local script = tmpfile("print('x'\n")
  local r = run(q(script))
  lu.assertEquals(r.code, 1)
  has(r.err, "lunet: " .. script .. ":")
  lu.assertEquals(r.out, "")
end

function TestProgram:test_missing_script()
  local r = run("/nonexistent/dir/script.lua")
  lu.assertEquals(r.code, 1)
  has(r.err, "cannot open /nonexistent/dir/script.lua")
end

function TestProgram:test_os_exit_status()
  local r = run([[-e 'io.write("x") os.exit(3)']])
  lu.assertEquals(r.code, 3)
  lu.assertEquals(r.out, "x")
  r = run([[-e 'os.exit(false)']])
  lu.assertEquals(r.code, 1)
  r = run([[-e 'os.exit(true, true)']])
  lu.assertEquals(r.code, 0)
end

function TestProgram:test_script_uses_tensors()
  local script = tmpfile([[
local x = lunet.zeros{2, 3}
local s = tostring(x)
assert(s:find("tensor(", 1, true), s)
print("shape", table.concat(x:shape(), "x"))
]])
  local r = run(q(script))
  ok(r)
  lu.assertEquals(r.out, "shape\t2x3\n")
end

function TestProgram:test_script_from_stdin()
  local r = run("- a b", "local y = 3\nprint(y * 2, ...)\nprint(arg[0], arg[1])\n")
  ok(r)
  -- one chunk: the local survives from line to line
  lu.assertEquals(r.out, "6\ta\tb\n-\ta\n")
  r = run("-", "error('from stdin')\n")
  lu.assertEquals(r.code, 1)
  has(r.err, "lunet: stdin:1: from stdin")
end

function TestProgram:test_interrupt_stops_a_script()
  local mark = tmpfile()
  os.remove(mark)
  local errf = tmpfile()
  -- the script creates `mark` once its SIGINT handler is armed, then spins
  local code = string.format(
    "io.open(%q, 'w'):close() local t = os.time() while os.time() - t < 30 do end",
    mark)
  local cmd = string.format([[
%s -e %s </dev/null 2>%s &
pid=$!
n=0
while [ ! -e %s ] && [ $n -lt 600 ]; do sleep 0.05; n=$((n+1)); done
kill -INT $pid
wait $pid
echo "status=$?"]], q(PROG), q(code), q(errf), q(mark))
  local p = io.popen(cmd, "r")
  local out = p:read("a")
  p:close()
  os.remove(mark)
  lu.assertStrContains(out, "status=1")
  has(slurp(errf), "interrupted!")
end

-- ---------------------------------------------------------------- REPL

function TestProgram:test_repl_expression_prints_value()
  local r = repl{"1+1", "'a', 2, nil", "x = 5", "x * 2"}
  ok(r)
  has(r.out, "2\n")
  has(r.out, "a\t2\tnil\n")
  has(r.out, "10\n")
  lu.assertEquals(r.err, "")
end

function TestProgram:test_repl_locals_do_not_persist()
  -- as in lua: each line is its own chunk
  local r = repl{"local x = 2", "x", "y = 3", "y"}
  ok(r)
  has(r.out, "nil\n")
  has(r.out, "3\n")
end

function TestProgram:test_repl_continues_incomplete_input()
  local r = repl{"function f()", "return 5 end", "f()", "t = {", "1,", "2 }", "#t"}
  ok(r)
  has(r.out, "5\n")
  has(r.out, "2\n")
  lu.assertEquals(r.err, "")
end

function TestProgram:test_repl_goes_on_after_errors()
  local r = repl{"error('boom 100%')", "1 +* 2", "40+2"}
  ok(r)   -- errors in the REPL do not change the exit status
  has(r.err, "boom 100%")
  has(r.err, "stack traceback:")
  has(r.err, "stdin:1:")   -- the syntax error
  has(r.out, "42\n")
end

function TestProgram:test_repl_unfinished_at_eof()
  local r = repl{"print('first')", "function g()"}
  ok(r)
  has(r.out, "first\n")
  has(r.err, "<eof>")
end

function TestProgram:test_repl_prints_tensors()
  local r = repl{"lunet.zeros{2}"}
  ok(r)
  has(r.out, "tensor(")
end

function TestProgram:test_repl_has_lunet()
  local r = repl{"type(lunet)", "lunet == require 'lunet'"}
  ok(r)
  has(r.out, "table\n")
  has(r.out, "true\n")
end

function TestProgram:test_repl_print_error_is_reported()
  local r = repl{"setmetatable({}, {__tostring = function() error('no str') end})", "7"}
  ok(r)
  has(r.err, "error calling 'print'")
  has(r.out, "7\n")
end

function TestProgram:test_repl_os_exit()
  local r = repl{"print('one')", "os.exit(5)", "print('never')"}
  lu.assertEquals(r.code, 5)
  has(r.out, "one\n")
  lu.assertNotStrContains(r.out, "never")
end

function TestProgram:test_repl_after_script_with_i()
  local script = tmpfile("answer = 21\n")
  local r = run("-i " .. q(script), "answer * 2\n")
  ok(r)
  has(r.out, "42\n")
  -- and after -e
  r = run("-e 'z = 4' -i", "z + 1\n")
  ok(r)
  has(r.out, "5\n")
end

function TestProgram:test_repl_interrupt_returns_to_prompt()
  local mark = tmpfile()
  os.remove(mark)
  local input = tmpfile(string.format(
    "io.open(%q, 'w'):close() local t = os.time() while os.time() - t < 30 do end\n40+2\n",
    mark))
  local outf, errf = tmpfile(), tmpfile()
  local cmd = string.format([[
LUNET_HISTORY=%s %s <%s >%s 2>%s &
pid=$!
n=0
while [ ! -e %s ] && [ $n -lt 600 ]; do sleep 0.05; n=$((n+1)); done
kill -INT $pid
wait $pid
echo "status=$?"]], q(tmpfile()), q(PROG), q(input), q(outf), q(errf), q(mark))
  local p = io.popen(cmd, "r")
  local status = p:read("a")
  p:close()
  os.remove(mark)
  lu.assertStrContains(status, "status=0")
  has(slurp(errf), "interrupted!")
  has(slurp(outf), "42\n")   -- the REPL went on to the next line
end
