-- The REPL: lunet.inspect (how results look), lunet.repl (what lines
-- mean, completion), and the lunet program's REPL driven through a pipe
-- and through a pseudo-terminal (spec/pty_run.c) as a person would type:
-- help, completion, timing, the startup file, LUA_INIT, exit statuses.
local lu = require "luaunit"
local H = require "helpers"
local lunet = require "lunet"
local inspect = require "lunet.inspect"
local repl = require "lunet.repl"

local PROG, PTY = os.getenv("LUNET_PROGRAM"), os.getenv("LUNET_PTY_RUN")
local q = H.q

local tmpfile, cleanup = H.temp_tracker()

-- ---------------------------------------------------------------- lunet.inspect

TestInspect = {}

function TestInspect:test_sorted_nested_one_line()
  lu.assertEquals(inspect { b = { 1, 2, 3 }, a = "x", [2.5] = true, ["a b"] = 1, [1] = "first" },
                  '{"first", [2.5] = true, a = "x", ["a b"] = 1, b = {1, 2, 3}}')
  lu.assertEquals(inspect {}, "{}")
  lu.assertEquals(inspect { 1.0, 2, 0.5, "a\nb", ["end"] = false }, '{1.0, 2, 0.5, "a\\nb", ["end"] = false}')
  lu.assertEquals(inspect(42), "42")
  lu.assertEquals(inspect("s"), '"s"')
end

function TestInspect:test_wide_tables_fold_one_entry_per_line()
  local t = {}
  for i = 1, 12 do t["key_number_" .. i] = i end
  local s = inspect(t)
  lu.assertStrContains(s, "{\n  key_number_1 = 1,\n  key_number_10 = 10,\n")
  for line in s:gmatch("[^\n]+") do lu.assertTrue(#line <= 80, line) end
  -- short array items share lines, within the width
  local long = {}
  for i = 1, 100 do long[i] = i end
  s = inspect(long, { length = 100 })
  lu.assertStrContains(s, "{\n  1, 2, 3, 4, 5,")
  for line in s:gmatch("[^\n]+") do lu.assertTrue(#line <= 80, line) end
end

function TestInspect:test_depth_length_and_cycles()
  lu.assertEquals(inspect({ a = { b = { c = { d = 1 } } } }, { depth = 2 }), "{a = {b = {...}}}")
  local list = {}
  for i = 1, 50 do list[i] = i end
  local s = inspect(list, { length = 3 })
  lu.assertStrContains(s, "1, 2, 3")
  lu.assertStrContains(s, "... 47 more")
  local t = { 1 }
  t.self = t
  t.inner = { up = t }
  lu.assertEquals(inspect(t), "{1, inner = {up = <cycle>}, self = <cycle>}")
  local shared = { 1 }
  lu.assertEquals(inspect { shared, shared }, "{{1}, {1}}")      -- shared, not a cycle
  H.raises("inspect: unknown option 'dept' (did you mean 'depth'?)", inspect, {}, { dept = 1 })
  H.raises("inspect: depth must be an integer >= 0, got -1", inspect, {}, { depth = -1 })
end

function TestInspect:test_tensors_modules_and_classes_are_compact()
  local m = lunet.nn.Linear(2, 3)
  lu.assertEquals(inspect { x = lunet.zeros { 2, 3 } }, "{x = <tensor {2,3} float32>}")
  lu.assertEquals(inspect { lunet.tensor(2.5) }, "{<tensor {} float32 = 2.5>}")
  lu.assertEquals(inspect { lunet.tensor({ 1, 2 }, { dtype = "int64" }) }, "{<tensor {2} int64>}")
  lu.assertEquals(inspect { m.weight }, "{<tensor {3,2} float32 requires_grad>}")
  lu.assertEquals(inspect { (m.weight * 2) }, "{<tensor {3,2} float32 grad_fn=MulBackward>}")
  lu.assertEquals(inspect { m, print }, "{<Linear>, <function>}")
  lu.assertEquals(inspect { lunet.nn.Linear, lunet.optim.AdamW }, "{<class Linear>, <class AdamW>}")
  -- a state dict keeps its registration order
  lu.assertEquals(inspect(m:state_dict()),
                  "{\n  weight = <tensor {3,2} float32 requires_grad>,\n  bias = <tensor {3} float32 requires_grad>,\n}")
  -- at the top level a value with its own tostring is shown by it
  lu.assertStrContains(inspect.show(m), "Linear(in_features=2")
  lu.assertStrContains(inspect.show(lunet.zeros { 2 }), "tensor([0., 0.]")
  lu.assertEquals(inspect.show("plain"), "plain")
  lu.assertEquals(inspect.show(lunet.nn.Linear), "<class Linear>")
  lu.assertEquals(lunet.inspect({ 1 }), "{1}")
end

-- ---------------------------------------------------------------- lunet.repl

TestReplLua = {}

function TestReplLua:test_rewrite()
  lu.assertEquals(repl.rewrite("=1+1"), "return 1+1")
  lu.assertEquals(repl.rewrite("  ?lunet.zeros "), 'require(\'lunet.doc\').help("lunet.zeros")')
  lu.assertEquals(repl.rewrite("?"), "require('lunet.doc').help()")
  lu.assertEquals(repl.rewrite(":time on"), 'require(\'lunet.repl\').command("time on")')
  lu.assertEquals(repl.rewrite("x = 1"), "x = 1")
  lu.assertEquals(repl.rewrite("a == b"), "a == b")
end

function TestReplLua:test_complete_globals_fields_and_methods()
  H.with_globals({ lunet = lunet, spec_model = lunet.nn.Sequential(lunet.nn.Linear(2, 3)),  -- as in the program
                   spec_tensor = lunet.zeros { 2 }, spec_dict = lunet.nn.ModuleDict { lin = lunet.nn.Linear(2, 2) } },
                 function()
    lu.assertEquals(repl.complete("pri"), { "print" })
    lu.assertEquals(repl.complete("functi"), { "function" })      -- keywords too
    lu.assertEquals(repl.complete("string.fo"), { "string.format" })
    lu.assertEquals(repl.complete("lunet.zeros_l"), { "lunet.zeros_like" })
    lu.assertEquals(repl.complete("lunet.optim.Ada"), { "lunet.optim.Adam", "lunet.optim.AdamW" })
    local names = {}
    for _, w in ipairs(repl.complete("lunet.")) do names[w] = true end
    for _, k in ipairs { "lunet.nn", "lunet.data", "lunet.plot", "lunet.matmul" } do lu.assertTrue(names[k], k) end
    lu.assertNil(names["lunet._now"])                               -- private: hidden
    lu.assertTrue(#repl.complete("lunet._n") > 0)                   -- unless asked for
    lu.assertEquals(repl.complete("spec_model:par"),
                    { "spec_model:param_groups", "spec_model:parameters" })   -- parse_options(cls): not a method
    lu.assertEquals(repl.complete("spec_model:named_p"), { "spec_model:named_parameters" })  -- inherited
    lu.assertEquals(repl.complete("spec_model:_"), {})           -- metamethods only for "__"
    for _, w in ipairs(repl.complete("spec_model:")) do
      lu.assertNil(w:find(":_", 1, true), w)
      lu.assertNotEquals(w, "spec_model:keys")                   -- static, not a method
    end
    -- what makes classes and lunet's layer machinery are not a module's methods
    for _, w in ipairs(repl.complete("spec_model:")) do
      for _, k in ipairs { "check_positive", "fail", "extend", "init", "format_options", "parse_options",
                           "op", "module_path", "collect_state", "shape_str", "keys" } do
        lu.assertNotEquals(w, "spec_model:" .. k)
      end
    end
    for _, w in ipairs(repl.complete("spec_model.")) do
      for _, k in ipairs { "extend", "op", "keys", "module_path", "collect_state", "AUTO", "spec" } do
        lu.assertNotEquals(w, "spec_model." .. k)
      end
    end
    lu.assertEquals(repl.complete("lunet.nn.Module.exte"), { "lunet.nn.Module.extend" })   -- the class has it
    local opt = lunet.optim.SGD(spec_model:parameters())
    H.with_globals({ spec_opt = opt }, function()
      lu.assertEquals(repl.complete("spec_opt:"), { "spec_opt:get_lr", "spec_opt:load_state_dict",
                      "spec_opt:set_lr", "spec_opt:state_dict", "spec_opt:step", "spec_opt:zero_grad" })
    end)
    -- lunet.data offers the tasks, make and the list of names
    lu.assertEquals(repl.complete("lunet.data."), { "lunet.data.char_lm", "lunet.data.copy", "lunet.data.make",
                    "lunet.data.modadd", "lunet.data.mqar", "lunet.data.reverse", "lunet.data.sort", "lunet.data.tasks" })
    lu.assertEquals(repl.complete("spec_dict.lin.we"), { "spec_dict.lin.weight" })   -- submodules, parameters
    lu.assertEquals(repl.complete("spec_tensor:mat"), { "spec_tensor:matmul" })
    lu.assertEquals(repl.complete("spec_tensor.gr"), { "spec_tensor.grad", "spec_tensor.grad_fn" })
    lu.assertEquals(repl.complete("nosuch.x"), {})
    lu.assertEquals(repl.complete("spec_tensor:view.x"), {})
  end)
end

function TestReplLua:test_time_str()
  lu.assertEquals(repl.time_str(0.0123), "12.3 ms")
  lu.assertEquals(repl.time_str(2.5), "2.5 s")
end

-- ---------------------------------------------------------------- the program, through a pipe

-- run the lunet program with input on stdin; env: a prefix like "X=1 "
local function run(args, input, env)
  local inf, errf = tmpfile(input or ""), tmpfile()
  local cmd = string.format("LUNET_HISTORY= LUNET_RC= %s%s %s <%s 2>%s", env or "", q(PROG), args or "",
                            q(inf), q(errf))
  local out, _, how, code = H.sh(cmd)
  lu.assertEquals(how, "exit", cmd)
  return { out = out, err = H.read_file(errf), code = code }
end

TestReplProgram = {}

function TestReplProgram:setUp() lu.skipIf(PROG == nil, "LUNET_PROGRAM not set (run through make test)") end
function TestReplProgram:tearDown() cleanup() end

function TestReplProgram:test_results_equals_and_last()
  local r = run("", table.concat({ "{b = {1, 2}, a = 'x'}", "=6*7", "_LAST + 1", "lunet.zeros{2}",
                                   "_LAST:numel()", "lunet.nn.Linear", "nil" }, "\n") .. "\n")
  lu.assertEquals(r.code, 0, r.err)
  lu.assertStrContains(r.out, '{a = "x", b = {1, 2}}\n42\n43\ntensor([0., 0.], shape={2})\n2\n<class Linear>\nnil\n')
end

function TestReplProgram:test_summary_prints_once()
  local r = run("", "lunet.profile.summary(lunet.nn.Linear(4, 4), {2, 4})\n")
  lu.assertEquals(r.code, 0, r.err)
  lu.assertEquals(select(2, r.out:gsub("Total params: 20", "")), 1)
  lu.assertNotStrContains(r.out, "table: 0x")
end

function TestReplProgram:test_help_and_question_mark()
  local r = run("", table.concat({ "?lunet.zeros", "?x:matmul", "help(lunet.nn.Linear(2, 3))", "?nosuch_name_x",
                                   "?add", "help()" }, "\n") .. "\n")
  lu.assertEquals(r.code, 0, r.err)
  lu.assertStrContains(r.out, "lunet.zeros\n===========\nzeros(shape")
  lu.assertStrContains(r.out, "lunet.matmul\n")
  lu.assertStrContains(r.out, "lunet.nn.Linear\n")
  lu.assertStrContains(r.out, "y = x W^T + b")
  lu.assertStrContains(r.out, ":named_parameters")             -- inherited methods listed
  lu.assertStrContains(r.out, "no documentation for 'nosuch_name_x'")
  lu.assertStrContains(r.out, "lunet.add\n")
  lu.assertStrContains(r.out, "help(obj) or ?name")
end

function TestReplProgram:test_time_command()
  local r = run("", ":time on\nx = 1\n:time off\ny = 2\n:time maybe\n:nope\n")
  lu.assertEquals(r.code, 0, r.err)
  lu.assertStrContains(r.out, "timing on\n")
  -- only x = 1 is timed: a REPL command (:time on, :time off) is not
  lu.assertNotNil(r.out:find("^timing on\n%(%d[%d.e+-]* ms%)\ntiming off\n$"), r.out)
  lu.assertNil(r.out:find("timing off\n%("))
  lu.assertStrContains(r.err, "usage: :time on|off")
  lu.assertStrContains(r.err, "unknown command ':nope'")
end

function TestReplProgram:test_lua_init()
  local r = run("-e 'print(X)'", nil, "LUA_INIT='X = 1' ")
  lu.assertEquals(r.out, "1\n")
  r = run("-e 'print(X)'", nil, "LUA_INIT='X = 1' LUA_INIT_5_4='X = 2' ")
  lu.assertEquals(r.out, "2\n")                                 -- the versioned one wins
  local f = tmpfile("X = 'from file'\n")
  r = run("-e 'print(X)'", nil, "LUA_INIT=@" .. q(f) .. " ")
  lu.assertEquals(r.out, "from file\n")
  r = run("-E -e 'print(X)'", nil, "LUA_INIT='X = 1' ")
  lu.assertEquals(r.out, "nil\n")                               -- -E ignores it
  r = run("-e 'print(1)'", nil, "LUA_INIT='error(\"init failed\")' ")
  lu.assertEquals(r.code, 1)
  lu.assertStrContains(r.err, "init failed")
end

function TestReplProgram:test_startup_file()
  local rc = tmpfile("RC_RAN = 'yes'\n")
  local r = run("", "RC_RAN\n", "LUNET_RC=" .. q(rc) .. " ")
  lu.assertEquals(r.out, "yes\n")
  r = run("--norc", "RC_RAN\n", "LUNET_RC=" .. q(rc) .. " ")
  lu.assertEquals(r.out, "nil\n")
  r = run("-e 'print(RC_RAN)'", nil, "LUNET_RC=" .. q(rc) .. " ")
  lu.assertEquals(r.out, "nil\n")                               -- scripts do not run it
  -- ~/.lunetrc when LUNET_RC is not set
  local home = tmpfile()
  os.remove(home)
  os.execute("mkdir -p " .. q(home))
  H.write_file(home .. "/.lunetrc", "RC_RAN = 'home'\n")
  local inf = tmpfile("RC_RAN\n")
  local out = H.sh(string.format("env -u LUNET_RC HOME=%s LUNET_HISTORY= %s <%s 2>&1", q(home), q(PROG), q(inf)))
  lu.assertEquals(out, "home\n")
  os.remove(home .. "/.lunetrc")
  os.remove(home)
  -- an error in it is reported, and the REPL starts anyway
  local bad = tmpfile("error('rc broke')\n")
  r = run("", "1 + 1\n", "LUNET_RC=" .. q(bad) .. " ")
  lu.assertStrContains(r.err, "rc broke")
  lu.assertStrContains(r.out, "2\n")
end

-- an expression that fails inside a library names stdin's line, as a
-- script's does: the line is not a tail call that drops the chunk's frame
function TestReplProgram:test_error_in_expression_names_the_line()
  local r = run("", "m = lunet.nn.Linear(4, 2)\nm(lunet.randn{3, 5})\nlunet.zeros{2}:view{3}\n")
  lu.assertEquals(r.code, 1)
  lu.assertStrContains(r.err, "stdin:2: linear: input {3,5}")
  lu.assertStrContains(r.err, "stdin:2: in main chunk")
end

-- from a pipe an error names the input's own line, as a script's would,
-- multi-line statements and expression lines included
function TestReplProgram:test_piped_errors_name_the_input_line()
  local r = run("", table.concat({ "x = 1", "", "local a =", "  nil + 1", "error('boom')",
                                   "1 + {}", "lunet.zeros{2}:view{3}", "print('after')" }, "\n") .. "\n")
  lu.assertEquals(r.code, 1)
  lu.assertStrContains(r.out, "after")
  lu.assertStrContains(r.err, "stdin:4: attempt to perform arithmetic on a nil value")
  lu.assertStrContains(r.err, "stdin:5: boom")
  lu.assertStrContains(r.err, "stdin:6: attempt to perform arithmetic on a table value")
  lu.assertStrContains(r.err, "stdin:7: view: shape {3} is invalid for 2 elements")
  lu.assertStrContains(r.err, "stdin:7: in main chunk")
  lu.assertNotStrContains(r.err, "stdin:1:")
end

function TestReplProgram:test_piped_failure_exits_nonzero()
  lu.assertEquals(run("", "error('x')\n").code, 1)
  lu.assertEquals(run("", "x = \n").code, 1)                   -- a syntax error too
  lu.assertEquals(run("", "print('fine')\n").code, 0)
end

-- ---------------------------------------------------------------- through a pseudo-terminal

-- type `lines` into the REPL on a terminal `cols` wide; its output with
-- the terminal's \r\n made \n
local function typed(lines, opts)
  opts = opts or {}
  local inputrc = tmpfile("set enable-bracketed-paste off\n")
  local inf = tmpfile(table.concat(lines, "\n") .. "\n")
  local cmd = string.format("cd %s && INPUTRC=%s TERM=dumb LUNET_HISTORY= LUNET_RC= %s %s -c %d %s %s <%s 2>&1",
                            q(opts.dir or "."), q(inputrc), opts.env or "", q(PTY), opts.cols or 80,
                            opts.prompt and ("-p " .. q(opts.prompt)) or "", q(PROG) .. " " .. (opts.args or ""),
                            q(inf))
  local out, _, how, code = H.sh(cmd)
  lu.assertEquals(how, "exit")
  lu.assertEquals(code, opts.code or 0, out)
  return (out:gsub("\r\n", "\n"):gsub("\r", "\n"))
end

TestReplTerminal = {}

function TestReplTerminal:setUp()
  lu.skipIf(PROG == nil or PTY == nil, "LUNET_PROGRAM/LUNET_PTY_RUN not set (run through make test)")
end
function TestReplTerminal:tearDown() cleanup() end

function TestReplTerminal:test_completes_lazy_namespaces_and_lists_candidates()
  -- a fresh REPL: lunet.optim and lunet.data were never touched
  local out = typed { "lunet.optim.A\t\t\t", "lunet.data.mq\t{seed = 1}.name" }
  lu.assertStrContains(out, "lunet 0.1.0")                      -- the banner: a terminal
  lu.assertStrContains(out, "lunet.optim.Adam   lunet.optim.AdamW")
  lu.assertStrContains(out, "> lunet.data.mqar{seed = 1}.name\nmqar\n")
end

function TestReplTerminal:test_completes_methods_public_and_inherited()
  local out = typed { "m = lunet.nn.Linear(2, 3)", "m:par\t\t\t", "m:named_p\t(); m:\t\t", "" }
  lu.assertStrContains(out, "m:param_groups")
  lu.assertStrContains(out, "m:parameters")
  lu.assertStrContains(out, "m:named_parameters()")              -- inherited from nn.Module, completed
  lu.assertStrContains(out, "m:zero_grad")                       -- the full list of m:
  lu.assertNil(out:find("m:_", 1, true))
  lu.assertNil(out:find("_params", 1, true))
  lu.assertNil(out:find("_attrs", 1, true))
end

function TestReplTerminal:test_completes_file_names_in_strings()
  local dir = tmpfile()
  os.remove(dir)
  os.execute("mkdir -p " .. q(dir .. "/sub"))
  H.write_file(dir .. "/sub/lunet_spec_data.csv", "a\n")
  local out = typed({ "f = io.open('sub/lunet_spec_d\t)", "f ~= nil" }, { dir = dir })
  os.remove(dir .. "/sub/lunet_spec_data.csv")
  os.remove(dir .. "/sub")
  os.remove(dir)
  lu.assertStrContains(out, "f = io.open('sub/lunet_spec_data.csv')")   -- the quote closed by completion
  lu.assertStrContains(out, "\ntrue\n")
end

function TestReplTerminal:test_help_and_timing()
  local out = typed { "?lunet.nn.Linear", ":time on", "lunet.zeros{1}:numel()", ":time off", "2 + 2" }
  lu.assertStrContains(out, "nn.Linear{in_features, out_features, bias=true}")
  lu.assertNotNil(out:find("\n1\n%(%d[%d.e+-]* ms%)\n"), out)
  lu.assertStrContains(out, "\n4\n")
  lu.assertNil(out:find("\n4\n%("))
end

function TestReplTerminal:test_progress_bar_fits_the_terminal()
  local script = tmpfile([[
lunet.manual_seed(1)
local task = lunet.data.copy{vocab_size = 8, seq_len = 8, batch_size = 4}
local m = lunet.nn.TransformerLM{vocab_size = 8, d_model = 16, n_layer = 1, num_heads = 2, max_len = 8}
lunet.train{model = m, optimizer = lunet.optim.SGD(m:parameters(), {lr = 0.1}), data = task,
            steps = 30, eval_every = 10, eval_batches = 1}
print("terminal width", lunet._term_width())
]])
  for _, cols in ipairs { 100, 60, 30 } do
    local out = typed({}, { cols = cols, prompt = "", args = q(script) })
    lu.assertStrContains(out, "terminal width\t" .. cols)
    local bars = 0
    for line in out:gmatch("[^\n]+") do
      local text = line:gsub("\27%[K", "")
      if text:find("^%[[#.]+%]") then
        bars = bars + 1
        lu.assertTrue(#text <= cols - 1, string.format("%d columns: %q", cols, text))
        lu.assertStrContains(text, "/30")
      end
    end
    lu.assertTrue(bars >= 1, out)
    if cols == 100 then lu.assertNotNil(out:find("30/30 .* eval %d%.%d+/%d%.%d+"), out) end
    lu.assertNil(out:find("step 10/30", 1, true))                 -- a bar, not lines
  end
end
