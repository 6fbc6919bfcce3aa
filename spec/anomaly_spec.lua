-- Numeric alarms: lunet.detect_anomaly (a backward that makes NaN or inf
-- names the op and where its forward was called, as PyTorch's anomaly
-- mode does) and lunet.train's stop-or-skip on a non-finite loss or
-- gradient norm.
local lu = require "luaunit"
local lunet = require "lunet"
local H = require "helpers"
local nn = lunet.nn

local NAN = 0 / 0

-- the error of fn(...), which must raise
local function error_of(fn, ...)
  local ok, err = pcall(fn, ...)
  lu.assertFalse(ok, "expected an error")
  return tostring(err)
end

------------------------------------------------------------------ detect_anomaly

TestDetectAnomaly = {}

function TestDetectAnomaly:tearDown() lunet.detect_anomaly(false) end

-- x = {1, 0}: log is finite forward at 1 and -inf at 0; times 0 the loss
-- is NaN, but the first backward to make a NaN is LogBackward's (0 / 0)
local function log_graph()
  local x = lunet.tensor({ 1, 0 }, { requires_grad = true })
  local y = x:log()             -- the op to blame: this line
  return (y * 0):sum(), x
end
local LOG_LINE = "anomaly_spec.lua:29:"

function TestDetectAnomaly:test_off_by_default_gradients_just_hold_nan()
  lu.assertFalse(lunet.is_anomaly_enabled())
  local loss, x = log_graph()
  loss:backward()
  lu.assertEquals(x.grad:totable()[1], 0)
  lu.assertNotEquals(x.grad:totable()[2], x.grad:totable()[2])   -- NaN
end

function TestDetectAnomaly:test_names_the_op_and_its_forward_line()
  local err = error_of(lunet.detect_anomaly, function()
    local loss = log_graph()
    loss:backward()
  end)
  lu.assertStrContains(err, "backward: LogBackward returned nan values in the gradient of " ..
                            "its input 1 (anomaly detection); the forward op was called from:")
  lu.assertStrContains(err, LOG_LINE)
  lu.assertFalse(lunet.is_anomaly_enabled(), "the scope restores the mode after an error")
end

-- the first op whose backward makes a non-finite value is blamed, not the
-- loss: here MulBackward (d/dw of y * w is y, which is -inf from log(0))
function TestDetectAnomaly:test_blames_the_first_op_not_the_loss()
  local err = error_of(lunet.detect_anomaly, function()
    local x = lunet.tensor { 1, 0 }
    local w = lunet.ones({ 2 }, { requires_grad = true })
    local loss = (x:log() * w):mean()
    loss:backward()
  end)
  lu.assertStrContains(err, "backward: MulBackward returned inf values in the gradient of its input 2")
end

-- fused ops are checked like any other: logits holding inf make the
-- softmax of cross-entropy NaN
function TestDetectAnomaly:test_fused_ops()
  local err = error_of(lunet.detect_anomaly, function()
    local logits = lunet.tensor({ { 1, math.huge }, { 0, 1 } }, { requires_grad = true })
    lunet.cross_entropy(logits, lunet.tensor { 1, 2 }):backward()
  end)
  lu.assertStrMatches(err, ".*backward: %a+Backward returned nan values in the gradient of its input 1.*")
end

function TestDetectAnomaly:test_a_nan_seed_is_named()
  lunet.detect_anomaly(true)
  local x = lunet.ones({ 2 }, { requires_grad = true })
  local err = error_of(function() (x * 2):backward(lunet.tensor { 1, NAN }) end)
  lu.assertStrContains(err, "backward: the gradient passed to backward holds nan values")
end

function TestDetectAnomaly:test_finite_graphs_are_untouched()
  lunet.manual_seed(3)
  local x = H.leaf(lunet.randn { 3, 4 })
  local w = H.leaf(lunet.randn { 4, 2 })
  local function grads()
    x.grad, w.grad = nil, nil
    lunet.cross_entropy(x:matmul(w):tanh(), lunet.tensor { 1, 2, 1 }):backward()
    return x.grad:totable(), w.grad:totable()
  end
  local gx, gw = grads()
  local ax, aw = lunet.detect_anomaly(grads)
  lu.assertEquals(ax, gx)
  lu.assertEquals(aw, gw)
end

-- three forms: a function run in the mode, a guard closed with its scope,
-- and a plain switch
function TestDetectAnomaly:test_scoped_forms()
  lu.assertEquals({ lunet.detect_anomaly(function(a, b)
    lu.assertTrue(lunet.is_anomaly_enabled())
    return a + b, "r"
  end, 1, 2) }, { 3, "r" })
  lu.assertFalse(lunet.is_anomaly_enabled())
  do
    local guard <close> = lunet.detect_anomaly(true)
    lu.assertTrue(lunet.is_anomaly_enabled())
    do
      local inner <close> = lunet.detect_anomaly(false)
      lu.assertFalse(lunet.is_anomaly_enabled())
    end
    lu.assertTrue(lunet.is_anomaly_enabled())
  end
  lu.assertFalse(lunet.is_anomaly_enabled())
  lunet.detect_anomaly(true)
  lu.assertTrue(lunet.is_anomaly_enabled())
  lunet.detect_anomaly(false)
  lu.assertFalse(lunet.is_anomaly_enabled())
  lu.assertEquals(error_of(lunet.detect_anomaly, 1):match("detect_anomaly: .*"),
                  "detect_anomaly: expected a boolean or a function, got number")
end

------------------------------------------------------------------ lunet.train

TestNonfinite = {}

-- a Linear regression whose extra term is NaN from step `bad` on, in the
-- loss (loss_nan) or only in the bias's gradient (grad_nan: sqrt(0) is 0
-- forward, inf backward, and times the 0 it came through NaN)
local function run(bad, how, opts)
  lunet.manual_seed(5)
  local model = nn.Linear(3, 2)
  local calls = 0
  local o = {
    model = model, optimizer = lunet.optim.SGD(model:parameters(), { lr = 0.1 }),
    steps = 5, quiet = true,
    data = function() return lunet.randn { 4, 3 }, lunet.randn { 4, 2 } end,
    loss_fn = function(m, x, y)
      calls = calls + 1
      local loss = lunet.mse_loss(m(x), y)
      if calls == bad and how == "loss_nan" then loss = loss + (m.bias * NAN):sum() end
      if calls == bad and how == "grad_nan" then loss = loss + (m.bias * 0):sqrt():sum() end
      return loss
    end,
  }
  for k, v in pairs(opts or {}) do o[k] = v end
  return model, lunet.train(o)
end

function TestNonfinite:test_a_nan_loss_stops_naming_step_and_parameter()
  local err = error_of(run, 3, "loss_nan")
  lu.assertStrContains(err, "train: step 3: the loss is nan; the first parameter whose " ..
                            "gradient is not finite is bias; stopped")
  lu.assertStrContains(err, "lunet.detect_anomaly(true)")
  -- the traceback names the check that stopped the run, not a "skip"
  local _, trace = xpcall(run, debug.traceback, 3, "loss_nan")
  lu.assertStrContains(trace, "nonfinite.check")
  lu.assertNotStrContains(trace, "nonfinite.skip")
end

function TestNonfinite:test_a_nan_gradient_with_a_finite_loss_stops_too()
  lu.assertStrContains(error_of(run, 2, "grad_nan"),
                       "train: step 2: the gradient norm is nan; the first parameter " ..
                       "whose gradient is not finite is bias")
  -- and with clipping, whose norm is the one checked
  lu.assertStrContains(error_of(run, 4, "grad_nan", { clip = 1.0 }),
                       "train: step 4: the gradient norm is nan")
end

function TestNonfinite:test_skip_leaves_the_model_finite_and_lists_the_step()
  local model, history = run(3, "loss_nan", { nonfinite = "skip", eval_every = 1 })
  lu.assertEquals(history.skipped, { 3 })
  lu.assertEquals(#history, 4)                     -- steps 1, 2, 4, 5 logged
  for _, row in ipairs(history) do lu.assertTrue(row.loss == row.loss, "a NaN loss was logged") end
  for name, p in model:named_parameters() do
    local sq = lunet._grad_sq_sum({ p })         -- finite exactly when every value is
    lu.assertTrue(sq == sq and sq < math.huge, name .. " is not finite")
  end
  -- the same run with nothing bad takes the same steps 1 and 2
  local clean = select(2, run(0, nil, { eval_every = 1 }))
  lu.assertEquals(history[2].loss, clean[2].loss)
  lu.assertEquals(#clean.skipped, 0)
end

function TestNonfinite:test_option_is_checked()
  lu.assertStrContains(error_of(run, 0, nil, { nonfinite = "ignore" }),
                       "train: nonfinite must be 'stop' or 'skip', got ignore")
end
