-- Every example parses its command line with lunet.cli (lua-argparse):
-- -h/--help on stdout with status 0, usage errors on stderr with status 2.
local lu = require "luaunit"
local H = require "helpers"
local cli = require "lunet.cli"

local PROG = os.getenv("LUNET_PROGRAM")

local function examples()
  local list = {}
  local p = io.popen("ls ../examples/*.lua")   -- examples/lib/ holds their helpers
  for f in p:lines() do list[#list + 1] = f end
  p:close()
  return list
end

-- run `lunet file args`: stdout, stderr, exit status
local function run(file, args)
  local errf = H.temp_file()
  local out, _, how, code = H.sh(string.format("%s %s %s </dev/null 2>%s", H.q(PROG), H.q(file), args, H.q(errf)))
  local err = H.read_file(errf)
  os.remove(errf)
  lu.assertEquals(how, "exit")
  return out, err, code
end

TestCli = {}

function TestCli:test_every_example_has_help_and_usage_errors()
  lu.skipIf(PROG == nil, "LUNET_PROGRAM not set (run through make test)")
  local files = examples()
  lu.assertTrue(#files >= 13)
  for _, f in ipairs(files) do
    local name = f:match("[^/]+$")
    for _, h in ipairs { "-h", "--help" } do
      local out, err, code = run(f, h)
      lu.assertEquals(code, 0, name .. " " .. h .. ": " .. err)
      lu.assertStrContains(out, "Usage: " .. name, false, name)
      lu.assertStrContains(out, "-h, --help", false, name)
      lu.assertEquals(err, "", name)
    end
    local out, err, code = run(f, "--no-such-option")
    lu.assertEquals(code, 2, name)
    lu.assertEquals(out, "", name)
    lu.assertStrContains(err, "Usage: " .. name, false, name)
    lu.assertStrContains(err, "Error: unknown option '--no-such-option'", false, name)
  end
end

-- script, arguments, what stderr must say
local BAD = {
  { "compare_training", "--steps many", "Error: 'many' is not a number" },
  { "compare_training", "--variants mha,xyz", "unknown variant 'xyz'" },
  { "compare_training", "--from /nonexistent-lunet.csv",
    "Error: --from: /nonexistent-lunet.csv: No such file or directory" },
  { "compare_attention", "--target 5", "Error: --target needs --match" },
  { "compare_attention", "--match watts", "argument for option '--match' must be one of" },
  { "char_lm", "", "Error: missing argument 'file'" },
  { "mla_plateau", "--down-dim 0", "'0' is not an integer >= 1" },
  { "mla_plateau", "--steps -3", "'-3' is not an integer >= 1" },       -- a value, not an option '-3'
  { "char_lm", "--steps -3 README.md", "Error: --steps must be a positive integer, got -3" },
  { "char_lm", "/nonexistent-lunet.txt", "Error: data.char_lm: cannot read '/nonexistent-lunet.txt'" },
}

-- the attention examples run from any directory (their shared setup is
-- found beside them), print the module and its output under the seeds'
-- setup, and nothing on stderr; the setup run by itself says what to run
function TestCli:test_attention_examples_run_from_anywhere()
  lu.skipIf(PROG == nil, "LUNET_PROGRAM not set (run through make test)")
  local dir = H.sh("pwd"):gsub("%s+$", "") .. "/../examples/"
  for _, v in ipairs { "mha", "mqa", "gqa", "mla", "gated" } do
    local f = dir .. "attention_" .. v .. ".lua"
    local errf = H.temp_file()
    local out, _, how, code = H.sh(string.format("cd / && %s %s </dev/null 2>%s", H.q(PROG), H.q(f), H.q(errf)))
    local err = H.read_file(errf)
    os.remove(errf)
    lu.assertEquals({ how, code, err }, { "exit", 0, "" }, v)
    lu.assertStrContains(out, "output shape: {2, 10, 256}", false, v)
    lu.assertStrMatches(out, ".*parameters:   %d+\n", nil, nil, v)
  end
  local _, err, code = run("../examples/lib/seed_setup.lua", "")
  lu.assertEquals(code, 2)
  lu.assertStrContains(err, "not an example: run examples/attention_mha.lua")
end

function TestCli:test_bad_values_are_usage_errors()
  lu.skipIf(PROG == nil, "LUNET_PROGRAM not set (run through make test)")
  for _, case in ipairs(BAD) do
    local _, err, code = run("../examples/" .. case[1] .. ".lua", case[2])
    lu.assertEquals(code, 2, case[1] .. " " .. case[2])
    lu.assertStrContains(err, case[3])
  end
end

function TestCli:test_converters_and_flags()
  lu.assertEquals(cli.int(1)("3"), 3)
  lu.assertEquals(select(2, cli.int(1)("0")), "'0' is not an integer >= 1")
  lu.assertEquals(select(2, cli.int()("1.5")), "'1.5' is not an integer")
  lu.assertEquals(cli.number(0)("2e-3"), 2e-3)
  lu.assertEquals(cli.list(cli.int(1))("1, 2,3"), { 1, 2, 3 })
  lu.assertEquals(select(2, cli.list(cli.int(1))("1,x")), "in '1,x': 'x' is not an integer >= 1")
  lu.assertEquals(select(2, cli.list(cli.int(1))(",")), "an empty list")
  local p = cli.flags(cli.parser("t.lua"), {
    { "steps", 10, "steps" }, { "seq-len", 4, "length" }, { "quick", false, "quick" }, { "log", "", "log" },
    { "dim", nil, "dim", cli.int(1) },
  })
  local o = cli.parse(p, { "--seq-len", "8", "--quick", "--dim=3" })
  lu.assertEquals(o.steps, 10)
  lu.assertEquals(o["seq-len"], 8)
  lu.assertTrue(o.quick)
  lu.assertEquals(o.log, "")
  lu.assertEquals(o.dim, 3)
  lu.assertStrContains(p:get_help(), "(default: 10)")
  -- a negative number after an option that takes a value is its value
  o = cli.parse(p, { "--steps", "-3", "--seq-len", "-.5", "--quick" })
  lu.assertEquals(o.steps, -3)
  lu.assertEquals(o["seq-len"], -0.5)
  lu.assertTrue(o.quick)
end
