-- Unknown options: the binding's check (lb_checkoptions, in C) and the
-- Lua side's (util.check_options) follow one rule -- which key is named,
-- when a near miss is hinted, how the known options are listed -- and
-- every C option check reports at the line that called it.
local lu = require "luaunit"
local lunet = require "lunet"
local H = require "helpers"
local util = require "lunet.util"

TestOptions = {}

local q = lunet.randn{ 1, 1, 2, 4 }
local x = lunet.randn{ 2, 3 }
local target = lunet.tensor{ 1, 2 }
local probs = lunet.tensor{ 0.5, 0.5 }
local function leafsum() return (lunet.ones({ 2 }, { requires_grad = true }) * 2):sum() end

-- every binding that checks an options table, by the name its errors give,
-- called with the options o
local C_CHECKS = {
  zeros = function(o) return lunet.zeros({ 2 }, o) end,
  ones = function(o) return lunet.ones(2, 3, o) end,
  empty = function(o) return lunet.empty({ 2 }, o) end,
  full = function(o) return lunet.full({ 2 }, 1, o) end,
  rand = function(o) return lunet.rand({ 2 }, o) end,
  randn = function(o) return lunet.randn({ 2 }, o) end,
  arange = function(o) return lunet.arange(3, o) end,
  eye = function(o) return lunet.eye(2, o) end,
  tensor = function(o) return lunet.tensor({ 1 }, o) end,
  zeros_like = function(o) return lunet.zeros_like(x, o) end,
  full_like = function(o) return lunet.full_like(x, 1, o) end,
  randn_like = function(o) return lunet.randn_like(x, o) end,
  randint = function(o) return lunet.randint(0, 5, { 2 }, o) end,
  multinomial = function(o) return lunet.multinomial(probs, 1, o) end,
  attention = function(o) return lunet.attention(q, q, q, o) end,
  cross_entropy = function(o) return lunet.cross_entropy(x, target, o) end,
  mse_loss = function(o) return lunet.mse_loss(x, x, o) end,
  sum = function(o) return x:sum(1, o) end,
  mean = function(o) return x:mean(1, o) end,
  var = function(o) return x:var(o) end,
  std = function(o) return x:std(1, o) end,
  backward = function(o) return leafsum():backward(o) end,
  allclose = function(o) return lunet.allclose(x, x, o) end,
  sort = function(o) return x:sort(o) end,
  argsort = function(o) return x:argsort(o) end,
  topk = function(o) return x:topk(1, o) end,
}

local function message(fn, ...)
  local ok, err = pcall(fn, ...)
  lu.assertFalse(ok, "expected an error")
  return (tostring(err):gsub("^[^:]*:%d+: ", ""))   -- without the position
end

-- the known options of a C check, read off its message for a key that is
-- near nothing
local function known_of(op)
  local msg = message(C_CHECKS[op], { zzzzzzzzzzzzzzzzzz = 1 })
  local list = msg:match("%(known options: (.*)%)$")
  lu.assertNotNil(list, op .. ": " .. msg)
  local known = {}
  for name in list:gmatch("[^, ]+") do known[#known + 1] = name end
  return known
end

-- the same options tables through both checks give the same message
local PROBES = {
  { requires = true }, { requires_gard = true }, { grad = true }, { dtyp = "int64" },
  { foo = 1 }, { d = 1 }, { casual = true }, { keep = true }, { keepdm = true },
  { masks = 1 }, { correct = 1 }, { retain = true }, { reduce = "sum" },
  { descend = true }, { larg = true }, { ignore_idx = 0 }, { equalnan = true },
  { b = 1, a = 2 }, { zeta = 1, [3] = true }, { [true] = 1 }, { Dtype = 1 },
  { replace = true }, { scal = 2 }, { x = 1, y = 2, requires = true },
  { ["dtype\0junk"] = 1 }, { ["x\0" .. "1"] = 1, ["x\0\0"] = 1 },   -- NUL bytes shown as \0
}

function TestOptions:test_c_and_lua_give_the_same_message()
  local n = 0
  for op, fn in pairs(C_CHECKS) do
    local known = known_of(op)
    for _, opts in ipairs(PROBES) do
      local c = message(fn, opts)
      local l = message(util.check_options, op, opts, known)
      lu.assertEquals(c, l, op .. " " .. require("lunet.inspect")(opts))
      n = n + 1
    end
  end
  lu.assertTrue(n > 500)
end

-- the cases the rule is about, on both sides
function TestOptions:test_the_rule()
  local known = { "dtype", "requires_grad" }
  local function hint(opts) return message(util.check_options, "zeros", opts, known) end
  lu.assertStrContains(hint{ requires = true }, "did you mean 'requires_grad'?")   -- held in it
  lu.assertStrContains(hint{ requires_gard = true }, "did you mean 'requires_grad'?")
  lu.assertStrContains(hint{ dtyp = 1 }, "did you mean 'dtype'?")
  lu.assertStrContains(hint{ foo = 1 }, "(known options: dtype, requires_grad)")
  lu.assertStrContains(hint{ b = 1, a = 1 }, "unknown option 'a'")   -- the first sorted
  lu.assertStrContains(hint{ [1] = true, b = 1 }, "unknown option '1'")
  lu.assertEquals(message(lunet.zeros, { 2 }, { requires = true }),
                  "zeros: unknown option 'requires' (did you mean 'requires_grad'?)")
  lu.assertEquals(message(lunet.zeros, { 2 }, { b = 1, a = 1 }),
                  "zeros: unknown option 'a' (known options: dtype, requires_grad)")
  lu.assertEquals(util.did_you_mean("casual", { "causal", "scale" }), "causal")
  lu.assertEquals(util.did_you_mean("heads", { "num_heads" }), "num_heads")
  lu.assertNil(util.did_you_mean("abc", { "num_heads" }))
  lu.assertNil(util.did_you_mean(1, { "a" }))
end

-- each C check names the line that called it
function TestOptions:test_c_checks_report_the_callers_line()
  H.raises_here("zeros: unknown option 'requires_gard' (did you mean 'requires_grad'?)", function() local y = lunet.zeros({ 2 }, { requires_gard = true }); return y end)
  H.raises_here("ones: unknown option 'dtyp'", function() local y = lunet.ones(2, 3, { dtyp = "int64" }); return y end)
  H.raises_here("full: unknown option", function() local y = lunet.full({ 2 }, 1, { foo = 1 }); return y end)
  H.raises_here("randn: unknown option", function() local y = lunet.randn({ 2 }, { foo = 1 }); return y end)
  H.raises_here("arange: unknown option", function() local y = lunet.arange(3, { foo = 1 }); return y end)
  H.raises_here("eye: unknown option", function() local y = lunet.eye(2, { foo = 1 }); return y end)
  H.raises_here("tensor: unknown option", function() local y = lunet.tensor({ 1 }, { foo = 1 }); return y end)
  H.raises_here("zeros_like: unknown option", function() local y = lunet.zeros_like(x, { foo = 1 }); return y end)
  H.raises_here("randint: unknown option", function() local y = lunet.randint(0, 5, { 2 }, { foo = 1 }); return y end)
  H.raises_here("multinomial: unknown option", function() local y = lunet.multinomial(probs, 1, { foo = 1 }); return y end)
  H.raises_here("attention: unknown option 'casual' (did you mean 'causal'?)", function() local y = lunet.attention(q, q, q, { casual = true }); return y end)
  H.raises_here("cross_entropy: unknown option 'ignore_idx'", function() local y = lunet.cross_entropy(x, target, { ignore_idx = 0 }); return y end)
  H.raises_here("mse_loss: unknown option 'reduce'", function() local y = lunet.mse_loss(x, x, { reduce = "sum" }); return y end)
  H.raises_here("sum: unknown option 'keepdm'", function() local y = x:sum(1, { keepdm = true }); return y end)
  H.raises_here("var: unknown option 'correct'", function() local y = x:var({ correct = 0 }); return y end)
  H.raises_here("std: unknown option", function() local y = x:std(1, { foo = 1 }); return y end)
  H.raises_here("backward: unknown option 'retain'", function() local y = leafsum(); y:backward({ retain = true }); return y end)
  -- with a backward callback (DistributedDataParallel's), backward is a Lua function first
  local cb = lunet.autograd.register_backward_callback(function() end)
  H.raises_here("backward: unknown option 'retain'", function() local y = leafsum(); y:backward({ retain = true }); return y end)
  cb.remove()
  H.raises_here("allclose: unknown option", function() local y = lunet.allclose(x, x, { foo = 1 }); return y end)
  H.raises_here("sort: unknown option 'descend'", function() local y = x:sort({ descend = true }); return y end)
  H.raises_here("topk: unknown option 'larg'", function() local y = x:topk(1, { larg = true }); return y end)
  -- and as a tail call, the way a one-line wrapper is written
  H.raises_here("zeros: unknown option", function() return lunet.zeros({ 2 }, { foo = 1 }) end)
end

-- options that are not a table, in C and Lua alike
function TestOptions:test_options_must_be_a_table()
  H.raises_here("attention: options must be a table, got string", function() local y = lunet.attention(q, q, q, "causal"); return y end)
  lu.assertEquals(message(util.check_options, "attention", "causal", {}),
                  "attention: options must be a table, got string")
end
