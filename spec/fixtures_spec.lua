-- The seeds' attention modules against independent PyTorch references.
--
-- Each spec/fixtures/<name>.safetensors (written by tools/make_fixtures.py,
-- which needs Debian's python3-torch; these tests do not) holds a module's
-- parameters under the seeds' names, an input, a padding mask, an upstream
-- gradient, and the expected output, input gradient and parameter
-- gradients ("grad.<name>"), computed by PyTorch in float64 from the
-- float32 values stored.  Here each is loaded into the lunet module with
-- load_state_dict(sd, {strict=true}) -- so the names and shapes must be
-- exactly the seeds' -- and every output and gradient must agree within
-- 1e-5 relative: |actual - expected| <= 1e-5 * max(1, |expected|).
--
-- Set FIXTURES_VERBOSE=1 to print the largest error of each comparison.
local lu = require "luaunit"
local lunet = require "lunet"
local nn = lunet.nn

local DIR = "fixtures/"     -- specs run from spec/
local RTOL = 1e-5
local VERBOSE = os.getenv("FIXTURES_VERBOSE")

-- the entries of a fixture that are not parameters
local SPECIAL = {
  input = true, mask = true, grad_output = true,
  expected_output = true, expected_input_grad = true,
}

-- file, class, the options the generator used (also in its __metadata__)
local FIXTURES = {
  { "mha", "MultiHeadAttention", { hidden_size = 32, num_heads = 4 } },
  { "mqa", "MultiQueryAttention", { hidden_size = 32, num_heads = 4 } },
  { "gqa", "GroupedQueryAttention", { hidden_size = 32, num_heads = 4, group_size = 2 } },
  { "mla", "MultiHeadLatentAttention",
    { hidden_size = 32, down_dim = 8, up_dim = 16, num_heads = 4, rope_head_dim = 6 } },
  { "gated", "GatedLatentAttention", { d_model = 32, num_heads = 4, latent_rank = 8 } },
}

-- a nested table of numbers, flattened in order
local function flatten(t, out)
  out = out or {}
  if type(t) ~= "table" then
    out[#out + 1] = t
  else
    for i = 1, #t do flatten(t[i], out) end
  end
  return out
end

-- the worst |a-e| / max(1,|e|) over all elements, and where (1-based flat index)
local function max_rel_err(actual, expected)
  lu.assertEquals(actual:shape(), expected:shape())
  local a, e = flatten(actual:totable()), flatten(expected:totable())
  local worst, at = -1, 0
  for i = 1, #e do
    local err = math.abs(a[i] - e[i]) / math.max(1, math.abs(e[i]))
    if err ~= err then err = math.huge end          -- NaN is the worst
    if err > worst then worst, at = err, i end
  end
  return worst, at, a[at], e[at]
end

local function check(what, actual, expected, report)
  lu.assertNotNil(actual, what .. ": no value (gradient not computed?)")
  local err, at, a, e = max_rel_err(actual, expected)
  report[#report + 1] = string.format("%-32s %.2e", what, err)
  if not (err <= RTOL) then
    lu.fail(string.format("%s: relative error %.3g > %g at element %d: %.9g vs expected %.9g",
                          what, err, RTOL, at, a, e))
  end
  return err
end

-- "k=v,k=v" of the config the generator wrote, sorted, to compare with ours
local function config_string(cfg)
  local parts = {}
  for k, v in pairs(cfg) do parts[#parts + 1] = k .. "=" .. tostring(v) end
  table.sort(parts)
  return table.concat(parts, ",")
end

local function sorted_config(s)
  local parts = {}
  for p in s:gmatch("[^,]+") do parts[#parts + 1] = p end
  table.sort(parts)
  return table.concat(parts, ",")
end

-- load a fixture: its tensors split into the state dict and the rest
local function load_fixture(name)
  local tensors, meta = lunet.load(DIR .. name .. ".safetensors")
  local sd, data, grads = {}, {}, {}
  for k, t in pairs(tensors) do
    if SPECIAL[k] then data[k] = t
    elseif k:sub(1, 5) == "grad." then grads[k:sub(6)] = t
    else sd[k] = t end
  end
  return sd, data, grads, meta
end

local function run_fixture(name, class, cfg)
  local sd, data, grads, meta = load_fixture(name)
  lu.assertEquals(meta.module, class)
  lu.assertEquals(sorted_config(meta.config), config_string(cfg))
  local m = nn[class](cfg)
  m:load_state_dict(sd, { strict = true })
  m:train()                                     -- dropout is 0: train mode changes nothing
  local report = { name .. " (" .. class .. ")" }
  local worst = 0
  local x = data.input:clone():requires_grad(true)
  local out = m(x, data.mask)
  worst = math.max(worst, check("output", out, data.expected_output, report))
  out:backward(data.grad_output)
  worst = math.max(worst, check("input grad", x.grad, data.expected_input_grad, report))
  local n = 0
  for pname, p in m:named_parameters() do
    lu.assertNotNil(grads[pname], "fixture has no grad." .. pname)
    worst = math.max(worst, check("grad." .. pname, p.grad, grads[pname], report))
    n = n + 1
  end
  local nsd = 0
  for _ in pairs(grads) do nsd = nsd + 1 end
  lu.assertEquals(n, nsd, "parameter count vs fixture grads")
  if VERBOSE then
    print(table.concat(report, "\n  ") .. string.format("\n  %-32s %.2e", "worst", worst))
  end
end

TestFixtures = {}

for _, f in ipairs(FIXTURES) do
  TestFixtures["test_" .. f[1]] = function() run_fixture(f[1], f[2], f[3]) end
end

-- strict loading names the keys a fixture has that the module lacks
function TestFixtures:test_strict_rejects_extra_keys()
  local sd = load_fixture("mha")
  sd["query.scale"] = lunet.zeros { 1 }
  local ok, err = pcall(function() nn.MHA { hidden_size = 32, num_heads = 4 }:load_state_dict(sd) end)
  lu.assertFalse(ok)
  lu.assertStrContains(err, "unexpected key (query.scale)")
end

-- a module saved by lunet and loaded back computes the same output
function TestFixtures:test_save_load_round_trip()
  local sd, data = load_fixture("mla")
  local cfg = FIXTURES[4][3]
  local m = nn.MLA(cfg)
  m:load_state_dict(sd)
  os.execute("mkdir -p tmp")
  m:save("tmp/fixture_mla.safetensors")
  local m2 = nn.MLA(cfg):load("tmp/fixture_mla.safetensors")
  for pname, p in m2:named_parameters() do
    lu.assertEquals(p:totable(), sd[pname]:totable(), pname)
  end
  lu.assertEquals(m2(data.input, data.mask):totable(), m(data.input, data.mask):totable())
end
