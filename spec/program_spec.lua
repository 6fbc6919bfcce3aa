-- The `lunet` program (src/prog/main.c): options, scripts and their `arg`,
-- exit statuses, stdin, and the REPL driven through a pipe.
-- The program under test is $LUNET_PROGRAM (the sanitized build under
-- `make sanitize`, where a leak at exit also fails the run).
local lu = require "luaunit"
local H = require "helpers"

local PROG = os.getenv("LUNET_PROGRAM")
local q = H.q

-- temp files made by a test, removed by teardown
local tmpfile, cleanup = H.temp_tracker()

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
  local out, _, how, code = H.sh(cmd)
  lu.assertEquals(how, "exit", "program killed by a signal: " .. cmd)
  return { out = out, err = assert(H.read_file(errf)), code = code }
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

-- the REPL on `lines` must exit 0 with each of want.out in its stdout
-- and each of want.err in its stderr
local function repl_shows(lines, want)
  local r = repl(lines)
  ok(r)
  for _, text in ipairs(want.out or {}) do has(r.out, text, "REPL stdout") end
  for _, text in ipairs(want.err or {}) do has(r.err, text, "REPL stderr") end
  return r
end

-- run; the exit status must be 0 and stdout exactly `want`
local function outputs(want, args, input, env)
  local r = run(args, input, env)
  ok(r)
  lu.assertEquals(r.out, want, "stdout of: lunet " .. (args or ""))
  return r
end

-- run; the exit status must be 1 (or `code`) and stderr contain `text`
local function fails(text, args, input, env, code)
  local r = run(args, input, env)
  lu.assertEquals(r.code, code or 1, "exit status of: lunet " .. (args or "") .. "; stderr: " .. r.err)
  has(r.err, text)
  return r
end

-- a temp file holding the Lua source `src` as a module: its name, and
-- the env prefix setting LUA_PATH so that require(name) finds it
local function temp_module(src)
  local dir, name = tmpfile(src):match("^(.*)/([^/]+)$")
  return name, string.format("LUA_PATH=%s ", q(dir .. "/?;;"))
end

--[[
Run the sh command `cmd(spin)` in the background, where `spin` is Lua
code that creates a mark file (by then the program's SIGINT handler is
armed) and spins for up to 30 s; once the mark shows, send SIGINT and
wait.  Returns what the shell prints: "status=N", N the exit status.
--]]
local function interrupted(cmd)
  local mark = tmpfile()
  os.remove(mark)
  local spin = string.format(
    "io.open(%q, 'w'):close() local t = os.time() while os.time() - t < 30 do end", mark)
  local status = H.sh(string.format([[
%s &
pid=$!
n=0
while [ ! -e %s ] && [ $n -lt 600 ]; do sleep 0.05; n=$((n+1)); done
kill -INT $pid
wait $pid
echo "status=$?"]], cmd(spin), q(mark)))
  os.remove(mark)
  return status
end

TestProgram = {}

function TestProgram:setUp()
  lu.skipIf(PROG == nil, "LUNET_PROGRAM not set (run through make test)")
end

function TestProgram:tearDown() cleanup() end

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

-- a bad command line is a usage error: status 2, the usage on stderr
function TestProgram:test_unknown_option()
  local r = fails("unrecognized option '--frobnicate'", "--frobnicate", nil, nil, 2)
  has(r.err, "usage: lunet")
  lu.assertEquals(r.out, "")
  fails("'-x'", "-x script.lua", nil, nil, 2)
end

function TestProgram:test_option_needs_argument()
  local r = fails("'-e' needs argument", "-e", nil, nil, 2)
  has(r.err, "usage:")
end

function TestProgram:test_execute_is_repeatable_and_ordered()
  outputs("42\n", "-e 'x = 20' -e 'x = x + 1' -e 'print(x * 2)'")
  outputs("attached\n", "-e'print(\"attached\")'")   -- -estat, as in lua
end

function TestProgram:test_execute_error()
  local r = fails("lunet: (command line):1: nope 100%",
                  "-e 'error(\"nope 100%\")' -e 'print(\"not reached\")'")
  lu.assertEquals(r.out, "")
  fails("lunet: (command line)", "-e 'x ='")
end

function TestProgram:test_library_option()
  local name, env = temp_module("return { answer = 42 }\n")
  outputs("42\n", string.format("-l %s -e 'print(_G[%q].answer)'", q(name), name), nil, env)
  fails("no_such_module_xyz", "-l no_such_module_xyz")
end

-- ---------------------------------------------------------------- lunet preloaded

function TestProgram:test_lunet_is_a_global()
  outputs("table\ttrue\tfunction\n",
          [[-e 'print(type(lunet), package.loaded.lunet == lunet, type(lunet.zeros))']])
end

function TestProgram:test_core_is_linked_in()
  -- no core.so anywhere on LUA_CPATH: the core must come from preload
  outputs("true\ttrue\n",
          [[-e 'print(package.preload["lunet.core"] ~= nil, package.loaded["lunet.core"] ~= nil)']],
          nil, "LUA_CPATH=/nonexistent/?.so ")
end

function TestProgram:test_finds_library_from_its_tree()
  -- no LUA_PATH: lua/ beside build/bin/ must be found from the executable
  local r = run([[-e 'print(package.searchpath("lunet", package.path))']],
                nil, "env -u LUA_PATH -u LUA_PATH_5_4 ")
  ok(r)
  lu.assertStrMatches(r.out, ".*/lua/lunet/init%.lua\n")
end

function TestProgram:test_user_lua_path_still_works()
  local name, env = temp_module("return 'mine'\n")
  outputs("mine\n", string.format("-e 'print((require(%q)))'", name), nil, env)
end

-- ---------------------------------------------------------------- scripts

function TestProgram:test_script_with_args()
  local script = tmpfile([[
print(arg[0])
print(#arg, arg[1], arg[2], arg[3])
print(select("#", ...), ...)
]])
  local r = outputs(script .. "\n" ..
                    "3\talpha\ttwo words\t\n" ..
                    "3\talpha\ttwo words\t\n",
                    q(script) .. " alpha 'two words' ''")
  lu.assertEquals(r.err, "")
end

function TestProgram:test_arg_negative_indices()
  local script = tmpfile("print(arg[-3], arg[-2], arg[-1], arg[0] ~= nil, arg[1])\n")
  outputs(PROG .. "\t-e\tx=1\ttrue\ta\n", string.format("-e 'x=1' %s a", q(script)))
  -- without a script, arg[0] is the program and options are positive
  outputs(PROG .. "\t-e\t2\n", [[-e 'print(arg[0], arg[1], #arg)']])
end

function TestProgram:test_script_after_double_dash()
  outputs("ran\t-v\n", "-- " .. q(tmpfile("print('ran', ...)\n")) .. " -v")
end

function TestProgram:test_script_shebang_line()
  outputs("ok\n", q(tmpfile("#!/usr/bin/env lunet\nprint('ok')\n")))
end

function TestProgram:test_script_runtime_error()
  local script = tmpfile("local function f() error('kaboom 50%') end\nprint('before')\nf()\nprint('after')\n")
  local r = fails("lunet: " .. script .. ":1: kaboom 50%", q(script))
  lu.assertEquals(r.out, "before\n")
  has(r.err, "stack traceback:")
end

function TestProgram:test_script_error_objects()
  fails("(error object is a table value)", q(tmpfile("error({})\n")))
  fails("lunet: custom",
        q(tmpfile("error(setmetatable({}, {__tostring = function() return 'custom' end}))\n")))
end

function TestProgram:test_script_syntax_error()
  local script = tmpfile("print('x'\n")
  local r = fails("lunet: " .. script .. ":", q(script))
  lu.assertEquals(r.out, "")
end

function TestProgram:test_missing_script()
  fails("cannot open /nonexistent/dir/script.lua", "/nonexistent/dir/script.lua")
end

function TestProgram:test_os_exit_status()
  local r = run([[-e 'io.write("x") os.exit(3)']])
  lu.assertEquals(r.code, 3)
  lu.assertEquals(r.out, "x")
  lu.assertEquals(run([[-e 'os.exit(false)']]).code, 1)
  lu.assertEquals(run([[-e 'os.exit(true, true)']]).code, 0)
end

function TestProgram:test_script_uses_tensors()
  local script = tmpfile([[
local x = lunet.zeros{2, 3}
local s = tostring(x)
assert(s:find("tensor(", 1, true), s)
print("shape", table.concat(x:shape(), "x"))
]])
  outputs("shape\t2x3\n", q(script))
end

function TestProgram:test_script_from_stdin()
  -- one chunk: the local survives from line to line
  outputs("6\ta\tb\n-\ta\n", "- a b", "local y = 3\nprint(y * 2, ...)\nprint(arg[0], arg[1])\n")
  fails("lunet: stdin:1: from stdin", "-", "error('from stdin')\n")
end

function TestProgram:test_interrupt_stops_a_script()
  local errf = tmpfile()
  local status = interrupted(function(spin)
    return string.format("%s -e %s </dev/null 2>%s", q(PROG), q(spin), q(errf))
  end)
  lu.assertStrContains(status, "status=1")
  has(H.read_file(errf), "interrupted!")
end

-- ---------------------------------------------------------------- REPL

function TestProgram:test_repl_expression_prints_value()
  local r = repl_shows({"1+1", "'a', 2, nil", "x = 5", "x * 2"},
                       {out = {"2\n", "a\t2\tnil\n", "10\n"}})
  lu.assertEquals(r.err, "")
end

function TestProgram:test_repl_locals_do_not_persist()
  -- as in lua: each line is its own chunk
  repl_shows({"local x = 2", "x", "y = 3", "y"}, {out = {"nil\n", "3\n"}})
end

function TestProgram:test_repl_continues_incomplete_input()
  local r = repl_shows({"function f()", "return 5 end", "f()", "t = {", "1,", "2 }", "#t"},
                       {out = {"5\n", "2\n"}})
  lu.assertEquals(r.err, "")
end

function TestProgram:test_repl_goes_on_after_errors()
  -- a piped REPL goes on after an error but exits 1 at the end, as a
  -- script would; "stdin:1:" is the syntax error
  local r = repl{"error('boom 100%')", "1 +* 2", "40+2"}
  lu.assertEquals(r.code, 1)
  has(r.out, "42\n")
  for _, text in ipairs{"boom 100%", "stack traceback:", "stdin:1:"} do has(r.err, text) end
  -- and without errors it exits 0
  lu.assertEquals(repl{"x = 1", "x + 1"}.code, 0)
end

function TestProgram:test_repl_unfinished_at_eof()
  local r = repl{"print('first')", "function g()"}
  lu.assertEquals(r.code, 1)
  has(r.out, "first\n")
  has(r.err, "<eof>")
end

function TestProgram:test_repl_prints_tensors()
  repl_shows({"lunet.zeros{2}"}, {out = {"tensor("}})
end

function TestProgram:test_repl_has_lunet()
  repl_shows({"type(lunet)", "lunet == require 'lunet'"}, {out = {"table\n", "true\n"}})
end

function TestProgram:test_repl_print_error_is_reported()
  repl_shows({"setmetatable({}, {__tostring = function() error('no str') end})", "7"},
             {out = {"7\n"}, err = {"error showing the results", "no str"}})
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
  local outf, errf = tmpfile(), tmpfile()
  local status = interrupted(function(spin)
    return string.format("LUNET_HISTORY=%s %s <%s >%s 2>%s", q(tmpfile()), q(PROG),
                         q(tmpfile(spin .. "\n40+2\n")), q(outf), q(errf))
  end)
  lu.assertStrContains(status, "status=1")     -- piped: the interrupted line failed
  has(H.read_file(errf), "interrupted!")
  has(H.read_file(outf), "42\n")   -- the REPL went on to the next line
end
