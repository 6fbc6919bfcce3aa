-- The binding's shape (src/lua): one Tensor metatable built in one place,
-- the one format of unknown-option errors, user text that is never a
-- format string, and grad-mode helpers that keep an error's traceback.
local lu = require "luaunit"
local lunet = require "lunet"
local H = require "helpers"

TestBinding = {}

function TestBinding:test_one_metatable()
  local x = lunet.tensor{ 1, 2 }
  local mt = getmetatable(x)
  lu.assertEquals(mt.__name, "lunet.Tensor")
  lu.assertIs(mt, debug.getregistry()["lunet.Tensor"])
  for _, k in ipairs{ "__index", "__newindex", "__gc", "__close", "__tostring", "__len",
                      "__add", "__sub", "__mul", "__div", "__pow", "__unm" } do
    lu.assertEquals(type(mt[k]), "function", k)
  end
  -- the method table is lunet.Tensor, and what it holds is what x: finds
  for _, k in ipairs{ "exp", "sum", "view", "matmul", "backward", "softmax" } do
    lu.assertIs(x[k], lunet.Tensor[k], k)
  end
  -- functions that are methods too are the same C function
  lu.assertIs(lunet.exp, lunet.Tensor.exp)
  lu.assertIs(lunet.sum, lunet.Tensor.sum)
  -- a tensor prints through the metatable, with lunet.core alone
  local core = require "lunet.core"
  lu.assertEquals(tostring(core.tensor{ 1, 2 }), "tensor([1., 2.], shape={2})")
  lu.assertEquals(#x, 2)
end

-- every option table the C side reads gives the same message
function TestBinding:test_unknown_options()
  local x = lunet.randn{ 2, 3 }
  local q = lunet.randn{ 1, 1, 2, 4 }
  local function says(msg, fn, ...)
    local ok, err = pcall(fn, ...)
    lu.assertFalse(ok, msg)
    lu.assertStrContains(tostring(err), msg)
  end
  says("zeros: unknown option 'requires_grd' (did you mean 'requires_grad'?)",
       lunet.zeros, { 2 }, { requires_grd = true })
  says("randn: unknown option 'device' (known options: dtype, requires_grad)",
       lunet.randn, 2, 3, { device = "cpu" })
  says("tensor: unknown option 'grad' (did you mean 'requires_grad'?)",
       lunet.tensor, { 1 }, { grad = true })
  says("full: unknown option 'requires_gard' (did you mean 'requires_grad'?)",
       lunet.full, { 2 }, 1, { requires_gard = true })
  says("backward: unknown option 'retain_grap' (did you mean 'retain_graph'?)",
       function() (x:requires_grad(true) * 2):sum():backward{ retain_grap = true } end)
  says("cross_entropy: unknown option 'reductoin' (did you mean 'reduction'?)",
       lunet.cross_entropy, x, lunet.tensor{ 1, 2 }, { reductoin = "sum" })
  says("mse_loss: unknown option 'ignore_index' (known options: reduction)",
       lunet.mse_loss, x, x, { ignore_index = 0 })
  says("sum: unknown option 'keep_dim' (did you mean 'keepdim'?)", x.sum, x, 1, { keep_dim = true })
  says("var: unknown option 'unbiased' (known options: correction, keepdim)",
       x.var, x, 1, { unbiased = false })
  says("attention: unknown option 'mask_' (did you mean 'mask'?)",
       lunet.attention, q, q, q, { mask_ = true })
  -- known options still work
  lu.assertTrue(lunet.zeros({ 2 }, { requires_grad = true }):requires_grad())
  lu.assertEquals(x:sum(1, { keepdim = true }):shape(), { 1, 3 })
end

-- the binding's check (lb_checkoptions) and util.check_options follow one
-- near-miss rule: the same typo gets the same suggestion (or the same
-- list) from a C-checked function as from a Lua-checked one.  Each C
-- function's known options are read from its own message; the typos are
-- every deletion, swap of neighbours, doubled letter and substitution of
-- each known name, its halves, names holding a '\0' (a Lua string may: the
-- C side must not stop there) and a few that no rule should catch
function TestBinding:test_c_and_lua_near_misses_agree()
  local util = require "lunet.util"
  local x = lunet.randn{ 2, 3 }
  local q = lunet.randn{ 1, 1, 2, 4 }
  local C = {
    zeros = function(o) return lunet.zeros({ 2 }, o) end,
    attention = function(o) return lunet.attention(q, q, q, o) end,
    sort = function(o) return x:sort(o) end,
    topk = function(o) return x:topk(1, o) end,
    var = function(o) return x:var(1, o) end,
    allclose = function(o) return lunet.allclose(x, x, o) end,
    cross_entropy = function(o) return lunet.cross_entropy(x, lunet.tensor{ 1, 2 }, o) end,
  }
  local function message(fn, ...)
    local ok, err = pcall(fn, ...)
    lu.assertFalse(ok)
    return (tostring(err):gsub("^[^\n]-:%d+: ", ""))      -- without its position
  end
  local function typos(name)
    local out = { name:sub(1, #name // 2), name:sub(#name // 2 + 1), name .. "_x", "x" .. name,
                  name:upper(), "zzzz", "q", name .. "\0", name .. "\0junk", name:sub(1, -2) .. "\0" }
    for i = 1, #name do
      out[#out + 1] = name:sub(1, i - 1) .. name:sub(i + 1)                        -- deletion
      out[#out + 1] = name:sub(1, i) .. name:sub(i, i) .. name:sub(i + 1)          -- doubled
      out[#out + 1] = name:sub(1, i - 1) .. "e" .. name:sub(i + 1)                 -- substitution
      if i < #name then
        out[#out + 1] = name:sub(1, i - 1) .. name:sub(i + 1, i + 1) .. name:sub(i, i) .. name:sub(i + 2)
      end
    end
    return out
  end
  local compared, hinted = 0, 0
  for op, fn in pairs(C) do
    local list = message(fn, { ["not an option at all"] = 1 }):match("%(known options: (.-)%)$")
    lu.assertNotNil(list, op)
    local known = {}
    for name in list:gmatch("[^, ]+") do known[#known + 1] = name end
    local seen = {}
    for _, k in ipairs(known) do seen[k] = true end
    for _, k in ipairs(known) do
      for _, typo in ipairs(typos(k)) do
        if not seen[typo] then
          local c = message(fn, { [typo] = 1 })
          lu.assertEquals(c, message(util.check_options, op, { [typo] = 1 }, known), op .. " " .. typo)
          compared = compared + 1
          if c:find("did you mean", 1, true) then hinted = hinted + 1 end
        end
      end
    end
    -- several unknown keys, and keys that are not strings
    for _, opts in ipairs { { zz = 1, aa = 1 }, { [1] = true }, { [true] = 1, mask_ = 1 } } do
      lu.assertEquals(message(fn, opts), message(util.check_options, op, opts, known), op)
    end
  end
  -- a known name and more after a '\0' is not that option (C strings end
  -- there); the message shows the NUL as \0
  local ok, err = pcall(lunet.zeros, { 2 }, { ["dtype\0junk"] = "int64" })
  lu.assertFalse(ok)
  lu.assertStrContains(err, "zeros: unknown option 'dtype\\0junk' (did you mean 'dtype'?)")
  lu.assertTrue(compared > 300 and hinted > compared // 2 and hinted < compared, compared .. " " .. hinted)
end

-- text from the user reaches the message as it is, never as a format
function TestBinding:test_percent_in_user_text()
  local x = lunet.zeros{ 2 }
  local function verbatim(text, fn, ...)
    local ok, err = pcall(fn, ...)
    lu.assertFalse(ok)
    lu.assertStrContains(tostring(err), text, false)
  end
  verbatim("unknown option '%s%n%d'", lunet.zeros, { 2 }, { ["%s%n%d"] = true })
  verbatim("cannot set field '%s%s%n'", function() x["%s%s%n"] = 1 end)
  verbatim("'%n%s' is not a tensor", lunet.save, "spec/tmp_never_written.safetensors",
           { ["%n%s"] = 1 })
  verbatim("load: %s%n%d.safetensors", lunet.load, "%s%n%d.safetensors")
  verbatim("gelu: approximate must be 'none' or 'tanh', got '%s%n'", x.gelu, x, "%s%n")
end

-- an error inside no_grad keeps its traceback, and the mode comes back
function TestBinding:test_grad_mode_keeps_tracebacks()
  local function inner() error("deep failure") end
  local ok, tb = xpcall(lunet.no_grad, debug.traceback, function() inner() end)
  lu.assertFalse(ok)
  lu.assertStrContains(tb, "deep failure")
  lu.assertStrContains(tb, "in upvalue 'inner'")      -- the frame that raised
  lu.assertTrue(lunet.is_grad_enabled())
  lunet.set_grad_enabled(false)
  ok = pcall(lunet.enable_grad, function()
    lu.assertTrue(lunet.is_grad_enabled())
    error("x")
  end)
  lu.assertFalse(ok)
  lu.assertFalse(lunet.is_grad_enabled())
  lunet.set_grad_enabled(true)
  -- nested, with results passed through
  local a, b = lunet.no_grad(function()
    return lunet.enable_grad(function() return lunet.is_grad_enabled(), 7 end)
  end)
  lu.assertEquals({ a, b }, { true, 7 })
  lu.assertTrue(lunet.is_grad_enabled())
  H.raises("function expected, got number", lunet.no_grad, 3)
end
