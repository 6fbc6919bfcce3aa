-- lunet.optim: each optimiser against steps computed by hand (plain Lua
-- arithmetic from the PyTorch formulas, and literal values that
-- torch.optim 1.13 gives on the same inputs), state_dict round trips,
-- clipping, schedules and errors.
local lu = require "luaunit"
local lunet = require "lunet"
local H = require "helpers"
local optim = lunet.optim

local P0 = { 1, 2, 3 }
local G = { { 0.1, -0.2, 0.3 }, { 0.5, 0.5, -1.0 }, { -0.3, 0.2, 0.05 } }

-- run an optimiser over the gradients G, returning p after each step
local function run(make, opts, grads)
  local p = lunet.tensor(P0):requires_grad(true)
  local opt = make({ p }, opts)
  local out = {}
  for k, g in ipairs(grads or G) do
    p.grad = lunet.tensor(g)
    opt:step()
    out[k] = p:totable()
  end
  return out, opt, p
end

-- the reference: torch.optim.SGD's formula on plain Lua numbers
local function sgd_ref(o)
  local p, buf, out = { table.unpack(P0) }, nil, {}
  local mom, damp, wd = o.momentum or 0, o.dampening or 0, o.weight_decay or 0
  for k, g in ipairs(G) do
    for i = 1, 3 do
      local d = g[i] + wd * p[i]
      if mom ~= 0 then
        buf = buf or {}
        buf[i] = (k == 1) and d or mom * buf[i] + (1 - damp) * d
        d = o.nesterov and d + mom * buf[i] or buf[i]
      end
      p[i] = p[i] - o.lr * d
    end
    out[k] = { table.unpack(p) }
  end
  return out
end

local function adam_ref(o, decoupled)
  local p, m, v, out = { table.unpack(P0) }, { 0, 0, 0 }, { 0, 0, 0 }, {}
  local b1, b2, eps, wd, lr = o.betas[1], o.betas[2], o.eps or 1e-8, o.weight_decay, o.lr
  for t, g in ipairs(G) do
    for i = 1, 3 do
      local d = g[i]
      if decoupled then p[i] = p[i] * (1 - lr * wd) else d = d + wd * p[i] end
      m[i] = b1 * m[i] + (1 - b1) * d
      v[i] = b2 * v[i] + (1 - b2) * d * d
      local mhat, vhat = m[i] / (1 - b1 ^ t), v[i] / (1 - b2 ^ t)
      p[i] = p[i] - lr * mhat / (math.sqrt(vhat) + eps)
    end
    out[t] = { table.unpack(p) }
  end
  return out
end

TestOptimSGD = {}

function TestOptimSGD:test_plain()
  local got = run(optim.SGD, { lr = 0.1 })
  H.assert_close(got, sgd_ref { lr = 0.1 }, 1e-6)
  H.assert_close(got[3], { 0.970000029, 1.95000005, 3.06499982 }, 1e-6, "torch")
end

function TestOptimSGD:test_momentum_dampening_weight_decay()
  local o = { lr = 0.1, momentum = 0.9, dampening = 0.1, weight_decay = 0.01 }
  local got = run(optim.SGD, o)
  H.assert_close(got, sgd_ref(o), 1e-6)
  -- by hand: step 1 buf = g + wd p (no dampening on the first step)
  H.assert_close(got[1], { 1 - 0.1 * (0.1 + 0.01), 2 - 0.1 * (-0.2 + 0.02), 3 - 0.1 * (0.3 + 0.03) }, 1e-6)
  H.assert_close(got[3], { 0.909158945, 1.94004047, 3.06927419 }, 1e-6, "torch")
end

function TestOptimSGD:test_nesterov()
  local o = { lr = 0.1, momentum = 0.9, nesterov = true, weight_decay = 0.01 }
  local got = run(optim.SGD, o)
  H.assert_close(got, sgd_ref(o), 1e-6)
  H.assert_close(got[3], { 0.879358292, 1.87918437, 3.13417244 }, 1e-6, "torch")
end

function TestOptimSGD:test_momentum_literal()
  -- buf1 = g1, buf2 = 0.9 g1 + g2: p2 = p1 - 0.1 * (0.9 * 0.1 + 0.1) = 0.971 for g = 0.1 twice
  local got = run(optim.SGD, { lr = 0.1, momentum = 0.9 }, { { 0.1, 0.1, 0.1 }, { 0.1, 0.1, 0.1 } })
  H.assert_close(got[2], { 0.971, 1.971, 2.971 }, 1e-6)
end

function TestOptimSGD:test_skips_params_without_grad_and_zero_grad()
  local a, b = lunet.tensor { 1, 2 }:requires_grad(true), lunet.tensor { 5 }:requires_grad(true)
  local opt = optim.SGD({ a, b }, { lr = 1, momentum = 0.5 })
  a.grad = lunet.tensor { 1, 1 }
  opt:step()
  H.assert_close(a, { 0, 1 })
  H.assert_close(b, { 5 })
  lu.assertNil(opt.state[2], "no state for a parameter never stepped")
  opt:zero_grad()
  lu.assertNil(a.grad)
  lu.assertNil(b.grad)
  opt:step()                      -- nothing has a grad: nothing moves
  H.assert_close(a, { 0, 1 })
end

function TestOptimSGD:test_module_and_duplicates()
  local w = lunet.tensor { 1, 2 }:requires_grad(true)
  local module = { parameters = function() return { w, w } end }
  local opt = optim.SGD(module, { lr = 1 })
  lu.assertEquals(#opt.params, 1, "a tensor listed twice is stepped once")
  w.grad = lunet.tensor { 1, 1 }
  opt:step()
  H.assert_close(w, { 0, 1 })
end

function TestOptimSGD:test_closure()
  local w = lunet.tensor { 1 }:requires_grad(true)
  local opt = optim.SGD({ w }, { lr = 0.5 })
  local loss = opt:step(function()
    opt:zero_grad()
    local l = (w * w):sum()
    l:backward()
    return l
  end)
  lu.assertAlmostEquals(loss:item(), 1, 1e-6)
  H.assert_close(w, { 0 })        -- 1 - 0.5 * 2
end

function TestOptimSGD:test_trains_a_regression()
  lunet.manual_seed(3)
  local x = lunet.randn { 16, 3 }
  local true_w = lunet.tensor { { 1 }, { -2 }, { 0.5 } }
  local y = x:matmul(true_w)
  local w = lunet.zeros({ 3, 1 }):requires_grad(true)
  local opt = optim.SGD({ w }, { lr = 0.1, momentum = 0.5 })
  local first, last
  for i = 1, 100 do
    opt:zero_grad()
    local d = x:matmul(w) - y
    local loss = (d * d):mean()
    loss:backward()
    opt:step()
    if i == 1 then first = loss:item() end
    last = loss:item()
  end
  lu.assertTrue(last < first * 1e-3, string.format("loss %g -> %g", first, last))
  H.assert_close(w, true_w, 1e-2)
end

function TestOptimSGD:test_errors()
  local p = lunet.tensor { 1, 2 }:requires_grad(true)
  H.raises("nesterov needs momentum > 0 and dampening 0",
           function() optim.SGD({ p }, { lr = 0.1, nesterov = true }) end)
  H.raises("SGD: lr must be a number >= 0", function() optim.SGD({ p }, { lr = -1 }) end)
  H.raises("SGD: unknown option 'momentun'", function() optim.SGD({ p }, { momentun = 0.9 }) end)
  H.raises("SGD: got an empty parameter list", function() optim.SGD({}, { lr = 1 }) end)
  H.raises("SGD: params[2] is string, expected a tensor",
           function() optim.SGD({ p, "w" }, { lr = 1 }) end)
  H.raises("SGD: params must be a list of tensors or a module",
           function() optim.SGD(3, { lr = 1 }) end)
  -- a parameter the update loops cannot run over is refused when the
  -- optimiser is made, at the caller's line (not later, from inside a step)
  local t = lunet.randn { 3, 2 }:t():detach():requires_grad(true)
  H.raises_here("AdamW: params[1] {2,3} is not contiguous", function() local o = optim.AdamW({ t }); return o end)
  H.raises_here("SGD: params[2] {2,3} is not contiguous", function() local o = optim.SGD({ p, t }); return o end)
  local opt = optim.SGD({ p }, { lr = 1 })
  opt.lr = "fast"
  p.grad = lunet.tensor { 1, 1 }
  H.raises("SGD: lr must be a number", function() opt:step() end)
end

function TestOptimSGD:test_core_checks()
  local p, g = lunet.zeros { 2, 3 }, lunet.ones { 2, 3 }
  H.raises("sgd: gradient has shape {3,2}, parameter has {2,3}",
           function() lunet._sgd_step(p, lunet.ones { 3, 2 }, nil, true, 1, 0, 0, false, 0) end)
  H.raises("sgd: parameter {3,2} is not contiguous",
           function() lunet._sgd_step(p:t(), g:t(), nil, true, 1, 0, 0, false, 0) end)
  H.raises("sgd: momentum buffer has shape {3}, parameter has {2,3}",
           function() lunet._sgd_step(p, g, lunet.zeros { 3 }, true, 1, 0.9, 0, false, 0) end)
  H.raises("sgd: momentum 0.9 needs a momentum buffer",
           function() lunet._sgd_step(p, g, nil, true, 1, 0.9, 0, false, 0) end)
  H.raises("adam: exp_avg_sq {2,3} is not contiguous", function()
    lunet._adam_step(p, g, lunet.zeros { 2, 3 }, lunet.zeros { 3, 2 }:t(), 1, 1, 0.9, 0.99, 1e-8, 0, false)
  end)
  H.raises("adam: step count 0 must be >= 1", function()
    lunet._adam_step(p, g, lunet.zeros { 2, 3 }, lunet.zeros { 2, 3 }, 0, 1, 0.9, 0.99, 1e-8, 0, false)
  end)
  -- a non-contiguous gradient is fine: it is only read
  lunet._sgd_step(p, lunet.tensor { { 1, 2 }, { 3, 4 }, { 5, 6 } }:t(), nil, true, 1, 0, 0, false, 0)
  H.assert_close(p, { { -1, -3, -5 }, { -2, -4, -6 } })
end

TestOptimAdam = {}

-- Adam (AdamW when decoupled) with lr 0.1, betas {0.9, 0.99} and
-- weight_decay wd over G: every step against adam_ref, step 1 against
-- values worked out by hand, step 3 against torch's
local function check_adam(make, decoupled, wd, step1, torch3)
  local o = { lr = 0.1, betas = { 0.9, 0.99 }, weight_decay = wd }
  local got = run(make, o)
  H.assert_close(got, adam_ref(o, decoupled), 1e-5, "against adam_ref")
  H.assert_close(got[1], step1, 1e-6, "step 1 by hand")
  H.assert_close(got[3], torch3, 1e-5, "torch")
end

function TestOptimAdam:test_adam()
  -- by hand: the first step moves each weight by lr * g / (|g| + eps)
  check_adam(optim.Adam, false, 0, { 0.9, 2.1, 2.9 },
             { 0.789147198, 2.00155592, 2.98906755 })
end

function TestOptimAdam:test_adam_weight_decay_is_l2()
  -- g2 = -0.2 + 0.1 * 2 = 0: the second weight does not move on step 1
  check_adam(optim.Adam, false, 0.1, { 0.9, 2, 2.9 },
             { 0.762332857, 1.8444171, 2.90143418 })
end

function TestOptimAdam:test_adamw_decoupled()
  -- step 1: p (1 - lr wd) - lr sign(g)
  check_adam(optim.AdamW, true, 0.1, { 0.99 - 0.1, 1.98 + 0.1, 2.97 - 0.1 },
             { 0.762295485, 1.94060552, 2.90143538 })
end

function TestOptimAdam:test_defaults()
  local p = lunet.tensor { 1 }:requires_grad(true)
  local a, w = optim.Adam { p }, optim.AdamW { p }
  lu.assertEquals({ a.lr, a.betas, a.eps, a.weight_decay }, { 1e-3, { 0.9, 0.999 }, 1e-8, 0 })
  lu.assertEquals({ w.lr, w.betas, w.eps, w.weight_decay }, { 1e-3, { 0.9, 0.999 }, 1e-8, 1e-2 })
  a.betas[1] = 0.5
  lu.assertEquals(optim.Adam({ p }).betas[1], 0.9, "defaults are not shared")
end

function TestOptimAdam:test_bias_correction_per_parameter()
  -- b has no grad on the first step, so its own step count starts later:
  -- its first update is again lr * sign(g)
  local a, b = lunet.tensor { 1 }:requires_grad(true), lunet.tensor { 1 }:requires_grad(true)
  local opt = optim.Adam({ a, b }, { lr = 0.1 })
  a.grad = lunet.tensor { 1 }
  opt:step()
  b.grad = lunet.tensor { 1 }
  a.grad = lunet.tensor { 1 }
  opt:step()
  lu.assertEquals(opt.state[1].step, 2)
  lu.assertEquals(opt.state[2].step, 1)
  H.assert_close(b, { 0.9 }, 1e-5)
  H.assert_close(a, { 0.8 }, 1e-5)    -- constant grads: m_hat / sqrt(v_hat) = 1
end

function TestOptimAdam:test_errors()
  local p = lunet.tensor { 1 }:requires_grad(true)
  H.raises("Adam: betas[2] must be in [0, 1), got 1", function() optim.Adam({ p }, { betas = { 0.9, 1 } }) end)
  H.raises("AdamW: betas must be a table of two numbers", function() optim.AdamW({ p }, { betas = 0.9 }) end)
  H.raises("Adam: eps must be a number >= 0", function() optim.Adam({ p }, { eps = -1 }) end)
  H.raises("Adam: unknown option 'amsgrad'", function() optim.Adam({ p }, { amsgrad = true }) end)
end

TestOptimState = {}

-- the same run in one go, and saved after `at` steps then resumed in a
-- fresh optimiser over fresh parameters: identical results
local function round_trip(make, opts, at)
  local grads = {}
  for k = 1, 5 do grads[k] = { 0.3 * k - 1, math.sin(k), 0.1 * k * k } end
  local p = lunet.tensor(P0):requires_grad(true)
  local opt = make({ p }, opts)
  local sd, saved_p
  for k = 1, #grads do
    if k == at + 1 then sd, saved_p = opt:state_dict(), p:clone() end
    p.grad = lunet.tensor(grads[k])
    opt:step()
  end
  local q = saved_p:detach():requires_grad(true)
  local opt2 = make({ q }, { lr = 123 })   -- hyper-parameters come from sd
  opt2:load_state_dict(sd)
  for k = at + 1, #grads do
    q.grad = lunet.tensor(grads[k])
    opt2:step()
  end
  lu.assertEquals(q:totable(), p:totable(), "resumed run differs")
  return sd
end

function TestOptimState:test_round_trip_sgd()
  local sd = round_trip(optim.SGD, { lr = 0.1, momentum = 0.9, nesterov = true, weight_decay = 0.01 }, 2)
  lu.assertEquals(sd.type, "SGD")
  lu.assertEquals(sd.param_groups[1].lr, 0.1)
  lu.assertEquals(sd.param_groups[1].params, { 1 })
  lu.assertTrue(lunet.is_tensor(sd.state[1].momentum_buffer))
end

function TestOptimState:test_round_trip_adam_and_adamw()
  local sd = round_trip(optim.Adam, { lr = 0.05, betas = { 0.8, 0.95 }, weight_decay = 0.1 }, 3)
  lu.assertEquals(sd.state[1].step, 3)
  lu.assertEquals(sd.param_groups[1].betas, { 0.8, 0.95 })
  round_trip(optim.AdamW, { lr = 0.05 }, 2)
end

-- an Adam (lr 0.1) over p = {1, 2}, stepped once with gradient {1, 1}
local function adam_stepped_once()
  local p = lunet.tensor { 1, 2 }:requires_grad(true)
  local opt = optim.Adam({ p }, { lr = 0.1 })
  p.grad = lunet.tensor { 1, 1 }
  opt:step()
  return opt, p
end

function TestOptimState:test_state_dict_is_a_snapshot()
  local opt = adam_stepped_once()
  local sd = opt:state_dict()
  local before = sd.state[1].exp_avg:totable()
  opt:step()
  lu.assertEquals(sd.state[1].exp_avg:totable(), before)
  lu.assertEquals(sd.state[1].step, 1)
  -- and loading copies: stepping after load leaves the dict alone
  opt:load_state_dict(sd)
  opt:step()
  lu.assertEquals(sd.state[1].exp_avg:totable(), before)
end

function TestOptimState:test_load_errors()
  local adam, p = adam_stepped_once()
  local sd = adam:state_dict()
  local sgd = optim.SGD({ p }, { lr = 0.1 })
  H.raises("SGD: load_state_dict: state dict is for Adam, not SGD", function() sgd:load_state_dict(sd) end)
  local two = optim.Adam({ p, lunet.zeros { 3 } }, { lr = 0.1 })
  H.raises("Adam: load_state_dict: state dict has 1 parameters, optimiser has 2",
           function() two:load_state_dict(sd) end)
  local other = optim.Adam({ lunet.zeros { 3 } }, { lr = 0.1 })
  H.raises("Adam: load_state_dict: state[1].exp_avg has shape {2}, parameter 1 has {3}",
           function() other:load_state_dict(sd) end)
  sd.state[1].extra = lunet.zeros { 2 }
  H.raises("state[1] has unknown key 'extra'", function() adam:load_state_dict(sd) end)
  sd.state[1].extra, sd.state[1].step = nil, nil
  H.raises("state[1] lacks 'step'", function() adam:load_state_dict(sd) end)
  sd.state[1].step = 1
  sd.param_groups[1].eps = nil
  H.raises("param group lacks 'eps'", function() adam:load_state_dict(sd) end)
  sd.param_groups[1].eps = -1
  H.raises("Adam: load_state_dict: eps must be a number >= 0", function() adam:load_state_dict(sd) end)
  H.raises("expected a table, got string", function() adam:load_state_dict("x") end)
  -- a failed load leaves the optimiser as it was
  lu.assertEquals(adam.eps, 1e-8)
  lu.assertEquals(adam.state[1].step, 1)
end

function TestOptimState:test_lr_is_settable()
  local p = lunet.tensor { 1 }:requires_grad(true)
  local opt = optim.SGD({ p }, { lr = 0.1 })
  opt.lr = 0
  p.grad = lunet.tensor { 1 }
  opt:step()
  H.assert_close(p, { 1 })
  opt:set_lr(0.5)
  lu.assertEquals(opt:get_lr(), 0.5)
  opt:step()
  H.assert_close(p, { 0.5 })
  H.raises("SGD: set_lr: lr must be a number >= 0", function() opt:set_lr(-1) end)
  lu.assertStrContains(tostring(opt), "SGD(1 params; lr=0.5")
end

TestOptimClip = {}

function TestOptimClip:test_clips_to_max_norm()
  local a, b = lunet.zeros { 2 }:requires_grad(true), lunet.zeros { 1 }:requires_grad(true)
  local c = lunet.zeros { 4 }:requires_grad(true)   -- no grad: skipped
  a.grad, b.grad = lunet.tensor { 3, 4 }, lunet.tensor { 12 }
  local norm = optim.clip_grad_norm({ a, b, c }, 6.5)
  lu.assertAlmostEquals(norm, 13, 1e-9)
  local s = 6.5 / (13 + 1e-6)
  H.assert_close(a.grad, { 3 * s, 4 * s }, 1e-6)
  H.assert_close(b.grad, { 12 * s }, 1e-6)
  lu.assertNil(c.grad)
end

function TestOptimClip:test_no_clip_below_max()
  local a = lunet.zeros { 2 }:requires_grad(true)
  a.grad = lunet.tensor { 3, 4 }
  lu.assertAlmostEquals(optim.clip_grad_norm({ parameters = function() return { a } end }, 10), 5, 1e-9)
  H.assert_close(a.grad, { 3, 4 })
end

function TestOptimClip:test_strided_grad()
  local a = lunet.zeros { 2, 2 }:requires_grad(true)
  a.grad = lunet.tensor { { 1, 2 }, { 3, 4 } }:t()
  local norm = optim.clip_grad_norm({ a }, 1)
  lu.assertAlmostEquals(norm, math.sqrt(30), 1e-6)
  local s = 1 / (math.sqrt(30) + 1e-6)
  H.assert_close(a.grad, { { s, 3 * s }, { 2 * s, 4 * s } }, 1e-6)
end

function TestOptimClip:test_errors()
  H.raises("clip_grad_norm: max_norm must be a number >= 0",
           function() optim.clip_grad_norm({ lunet.zeros { 1 } }, -1) end)
  H.raises("clip_grad_norm: params[1] is number", function() optim.clip_grad_norm({ 1 }, 1) end)
  H.raises("scale_: tensor {3} has overlapping elements",
           function() lunet._scale_(lunet.zeros { 1 }:expand { 3 }, 2) end)
  H.raises("grad_sq_sum: entry 2 is boolean", function() lunet._grad_sq_sum({ lunet.zeros { 1 }, true }) end)
end

TestOptimSchedule = {}

function TestOptimSchedule:test_constant()
  local f = optim.schedule.constant(0.3)
  lu.assertEquals({ f(1), f(1000) }, { 0.3, 0.3 })
end

function TestOptimSchedule:test_warmup_cosine()
  local f = optim.schedule.warmup_cosine { lr = 1, warmup = 10, total = 110, min_lr = 0.1 }
  local close = function(a, b) lu.assertAlmostEquals(a, b, 1e-12) end
  close(f(1), 0.1)
  close(f(5), 0.5)
  close(f(10), 1)
  close(f(11), 1)                                            -- the decay starts at lr
  close(f(61), 0.1 + 0.9 * 0.5)                              -- half way: cos = 0
  close(f(36), 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi / 4)))
  close(f(110), 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 0.99)))   -- the last step still learns
  lu.assertTrue(f(110) > 0.1)
  close(f(111), 0.1)
  close(f(500), 0.1)
  local g = optim.schedule.warmup_cosine { lr = 2, total = 4 }  -- no warm-up, min 0
  close(g(1), 2)
  close(g(3), 1)
  lu.assertTrue(g(4) > 0)
  close(g(5), 0)
  -- driving an optimiser
  local p = lunet.tensor { 1 }:requires_grad(true)
  local opt = optim.SGD({ p }, { lr = 0 })
  opt.lr = f(5)
  lu.assertEquals(opt.lr, f(5))
end

function TestOptimSchedule:test_errors()
  H.raises("schedule.warmup_cosine: total (5) must be >= warmup (10)",
           function() optim.schedule.warmup_cosine { lr = 1, warmup = 10, total = 5 } end)
  H.raises("schedule.warmup_cosine: lr must be a number", function() optim.schedule.warmup_cosine { total = 5 } end)
  H.raises("unknown option 'warm_up'",
           function() optim.schedule.warmup_cosine { lr = 1, warm_up = 10, total = 5 } end)
  H.raises("schedule.constant: lr must be a number >= 0", function() optim.schedule.constant(-1) end)
end
