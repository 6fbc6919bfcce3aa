-- Losses: cross_entropy (fused with log-softmax) and mse_loss.
local lu = require "luaunit"
local lunet = require "lunet"
local H = require "helpers"

TestLoss = {}

function TestLoss:setUp() lunet.manual_seed(5) end

-- per-row -log softmax(x)[t] in plain Lua
local function plain_ce_rows(x, t)
  local shape = x:shape()
  local C = shape[#shape]
  local rows = x:numel() // C
  local xf, tf = x:reshape{rows, C}, t:reshape{rows}
  local out = {}
  for r = 1, rows do
    local m = -math.huge
    for c = 1, C do m = math.max(m, xf:get{r, c}) end
    local s = 0
    for c = 1, C do s = s + math.exp(xf:get{r, c} - m) end
    out[r] = m + math.log(s) - xf:get{r, tf:get{r}}
  end
  return out
end

function TestLoss:test_cross_entropy_values()
  local x = lunet.randn{2, 3, 5} * 4
  local t = lunet.tensor{{1, 5, 3}, {2, 2, 4}}
  local rows = plain_ce_rows(x, t)
  local sum = 0
  for _, v in ipairs(rows) do sum = sum + v end
  lu.assertAlmostEquals(lunet.cross_entropy(x, t):item(), sum / 6, 1e-5)
  lu.assertAlmostEquals(lunet.cross_entropy(x, t, {reduction = "sum"}):item(), sum, 1e-4)
  local none = lunet.cross_entropy(x, t, {reduction = "none"})
  lu.assertEquals(none:shape(), {2, 3})
  H.assert_close(none:reshape{6}, rows, 1e-5)
end

function TestLoss:test_cross_entropy_stable_for_large_logits()
  local x = lunet.tensor{{1000, 0, -1000}, {-1e4, 1e4, 0}}
  local l = lunet.cross_entropy(x, lunet.tensor{1, 1}, {reduction = "none"})
  lu.assertAlmostEquals(l:get{1}, 0, 1e-6)
  lu.assertAlmostEquals(l:get{2}, 2e4, 1)
end

function TestLoss:test_ignore_index()
  local x = lunet.randn{4, 3}
  local t = lunet.tensor{1, 0, 3, 0}
  local rows = plain_ce_rows(x:narrow(1, 1, 1), lunet.tensor{1})
  local rows3 = plain_ce_rows(x:narrow(1, 3, 1), lunet.tensor{3})
  local l = lunet.cross_entropy(x, t, {ignore_index = 0})
  lu.assertAlmostEquals(l:item(), (rows[1] + rows3[1]) / 2, 1e-5)
  local xl = H.leaf(x)
  lunet.cross_entropy(xl, t, {ignore_index = 0}):backward()
  for c = 1, 3 do lu.assertEquals(xl.grad:get{2, c}, 0) end   -- ignored rows get no gradient
  -- everything ignored: a mean over nothing is 0, not NaN
  lu.assertEquals(lunet.cross_entropy(x, lunet.tensor{0, 0, 0, 0}, {ignore_index = 0}):item(), 0)
end

function TestLoss:test_cross_entropy_grad()
  local t = lunet.tensor{{2, 1, 4}, {3, 3, 1}}
  for _, red in ipairs{"mean", "sum", "none"} do
    H.gradcheck(function(x) return lunet.cross_entropy(x, t, {reduction = red}) end,
                {H.leaf(lunet.randn{2, 3, 4})})
  end
  H.gradcheck(function(x) return lunet.cross_entropy(x:transpose(1, 2), t) end,
              {H.leaf(lunet.randn{3, 2, 4})})
end

function TestLoss:test_mse_loss()
  local a, b = lunet.randn{3, 4}, lunet.randn{3, 4}
  local s = 0
  for i = 1, 3 do for j = 1, 4 do s = s + (a:get{i, j} - b:get{i, j}) ^ 2 end end
  lu.assertAlmostEquals(lunet.mse_loss(a, b):item(), s / 12, 1e-5)
  lu.assertAlmostEquals(lunet.mse_loss(a, b, {reduction = "sum"}):item(), s, 1e-4)
  lu.assertEquals(lunet.mse_loss(a, b, {reduction = "none"}):shape(), {3, 4})
  H.gradcheck(function(a, b) return lunet.mse_loss(a, b) end, {H.leaf(a), H.leaf(b)})
end

function TestLoss:test_errors()
  H.raises("cross_entropy: targets {3} do not match logits {2,4} (classes on the last dim)",
           function() lunet.cross_entropy(lunet.zeros{2, 4}, lunet.tensor{1, 1, 1}) end)
  H.raises("cross_entropy: target 5 out of range for 4 classes",
           function() lunet.cross_entropy(lunet.zeros{2, 4}, lunet.tensor{1, 5}) end)
  H.raises("cross_entropy: target 0 out of range for 4 classes",
           function() lunet.cross_entropy(lunet.zeros{2, 4}, lunet.tensor{1, 0}) end)
  H.raises("cross_entropy: reduction must be 'mean', 'sum' or 'none', got 'avg'",
           function() lunet.cross_entropy(lunet.zeros{2, 4}, lunet.tensor{1, 2}, {reduction = "avg"}) end)
  H.raises("mse_loss: input {2,3} and target {4} differ in shape",
           function() lunet.mse_loss(lunet.zeros{2, 3}, lunet.zeros{4}) end)
  -- shapes that broadcast are refused too (PyTorch warns and averages over {3,3})
  H.raises("mse_loss: input {3,1} and target {3} differ in shape",
           function() lunet.mse_loss(lunet.zeros{3, 1}, lunet.zeros{3}) end)
end
