-- lunet.train (lua/lunet/train.lua), checkpoints (lua/lunet/checkpoint.lua)
-- and examples/compare_training.lua run end to end.
local lu = require "luaunit"
local lunet = require "lunet"
local H = require "helpers"
local train = require "lunet.train"
local ckpt = require "lunet.checkpoint"

local TMP = "tmp"
os.execute("mkdir -p " .. TMP)
local PROG = os.getenv("LUNET_PROGRAM")

local function tmp(name) return TMP .. "/train_" .. name end

-- every element equal
local function same(a, b)
  return a:eq(b):sum():item() == a:numel()
end

local read = require("lunet.util").read_file

-- a writable sink for train's progress output
local function sink()
  local s = { text = {} }
  function s:write(...)
    for i = 1, select("#", ...) do self.text[#self.text + 1] = select(i, ...) end
  end
  function s:flush() end
  function s:str() return table.concat(self.text) end
  return s
end

-- a tiny model, its optimiser and a copy task: everything made from seed
local function setup(seed, opt_name)
  lunet.manual_seed(seed or 7)
  local task = lunet.data.copy { vocab_size = 8, seq_len = 8, batch_size = 8, seed = 3 }
  local model = lunet.nn.TransformerLM { vocab_size = 8, d_model = 16, n_layer = 1, num_heads = 2,
                                         max_len = 8 }
  local opt
  if opt_name == "sgd" then
    opt = lunet.optim.SGD(model:parameters(), { lr = 0.1, momentum = 0.9 })
  else
    opt = lunet.optim.AdamW(model:parameters(), { lr = 1e-2 })
  end
  return model, opt, task
end

TestTrain = {}

function TestTrain:test_history_and_loss_decreases()
  local model, opt, task = setup()
  local out = sink()
  local hist = train { model = model, optimizer = opt, data = task, steps = 40, eval_every = 10,
                       progress = "lines", output = out }
  lu.assertEquals(#hist, 4)
  for i, h in ipairs(hist) do
    lu.assertEquals(h.step, 10 * i)
    for _, k in ipairs { "loss", "acc", "lr", "tokens_per_s", "elapsed" } do
      lu.assertEquals(type(h[k]), "number", k)
    end
    lu.assertTrue(h.acc >= 0 and h.acc <= 1)
    lu.assertEquals(h.lr, 1e-2)
  end
  lu.assertTrue(hist[4].loss < 0.7 * hist[1].loss,
                string.format("loss %g -> %g", hist[1].loss, hist[4].loss))
  lu.assertTrue(hist[4].acc > hist[1].acc)
end

function TestTrain:test_on_step_schedule_clip_and_eval()
  local model, opt, task = setup()
  local seen, lrs = {}, {}
  local hist = train {
    model = model, optimizer = opt, data = task, steps = 6, eval_every = 3, eval_batches = 2,
    schedule = function(step) return 1e-3 * step end, clip = 0.5, quiet = true,
    on_step = function(step, loss, info)
      seen[#seen + 1] = step
      lrs[step] = info.lr
      lu.assertEquals(type(loss), "number")
      lu.assertTrue(info.grad_norm >= 0)
    end,
  }
  lu.assertEquals(seen, { 1, 2, 3, 4, 5, 6 })
  lu.assertAlmostEquals(lrs[4], 4e-3, 1e-12)
  lu.assertEquals(#hist, 2)
  lu.assertAlmostEquals(hist[2].lr, 6e-3, 1e-12)
  lu.assertEquals(type(hist[2].eval_loss), "number")
  lu.assertTrue(hist[2].eval_acc >= 0 and hist[2].eval_acc <= 1)
  lu.assertTrue(hist[2].grad_norm > 0)
  -- evaluation runs without grad and leaves the model in training mode
  lu.assertTrue(model.training)
  local loss, acc = train.evaluate(model, task, 2)
  lu.assertAlmostEquals(loss, hist[2].eval_loss, 1e-6)
  lu.assertAlmostEquals(acc, hist[2].eval_acc, 1e-9)
end

-- the defaults: ten rows, and one held-out batch scored per row whenever
-- the data can give one (a PyTorch user passing an eval task sees eval
-- metrics); a plain function cannot, and eval_batches = 0 turns it off
function TestTrain:test_defaults_log_ten_rows_with_evaluation()
  local model, opt, task = setup()
  local hist = train { model = model, optimizer = opt, data = task, steps = 20, quiet = true }
  lu.assertEquals(#hist, 10)
  lu.assertEquals(hist[1].step, 2)
  for _, h in ipairs(hist) do lu.assertEquals(type(h.eval_loss), "number") end
  local loss = train.evaluate(model, task, 1)
  lu.assertAlmostEquals(hist[10].eval_loss, loss, 1e-6)
  local off = train { model = model, optimizer = opt, data = task, steps = 2, eval_batches = 0, quiet = true }
  lu.assertNil(off[1].eval_loss)
  local fn = train { model = model, optimizer = opt, data = function() return task:batch() end,
                     steps = 2, quiet = true }
  lu.assertNil(fn[1].eval_loss)
end

-- what an evaluation runs (README): the training loss function, on the
-- fixed held-out batches 1..n, in eval mode with grad off, the mode put
-- back; training steps in train mode with grad on
function TestTrain:test_evaluation_runs_the_loss_in_eval_mode_without_grad()
  local model, opt, task = setup()
  local seen = {}
  local function loss_fn(m, x, y, mask)
    seen[#seen + 1] = { training = m.training, grad = lunet.is_grad_enabled(),
                        eval = lunet.equal(x, (task:eval_batch(1))) }
    return train.default_loss(m, x, y, mask)
  end
  local hist = train { model = model, optimizer = opt, data = task, steps = 4, eval_every = 2,
                       loss_fn = loss_fn, quiet = true }
  lu.assertEquals(#hist, 2)
  -- per row: two training steps, then one evaluation of eval_batch(1)
  lu.assertEquals(#seen, 6)
  for i, s in ipairs(seen) do
    local is_eval = i % 3 == 0
    lu.assertEquals(s.training, not is_eval, i)
    lu.assertEquals(s.grad, not is_eval, i)
    lu.assertEquals(s.eval, is_eval, i)
  end
  lu.assertTrue(model.training)
end

function TestTrain:test_csv_log()
  local model, opt, task = setup()
  local path = tmp("run.csv")
  os.remove(path)
  local hist = train { model = model, optimizer = opt, data = task, steps = 7, eval_every = 3,
                       eval_batches = 1, log = path, quiet = true }
  local lines = {}
  for line in read(path):gmatch("[^\n]+") do lines[#lines + 1] = line end
  lu.assertEquals(lines[1], "step,loss,acc,eval_loss,eval_acc,lr,grad_norm,tokens_per_s,elapsed")
  lu.assertEquals(#lines, 1 + #hist)
  lu.assertEquals(#hist, 3)                       -- steps 3, 6 and the last, 7
  for i, h in ipairs(hist) do
    local cells = {}
    for c in (lines[i + 1] .. ","):gmatch("([^,]*),") do cells[#cells + 1] = c end
    lu.assertEquals(#cells, 9)
    lu.assertEquals(tonumber(cells[1]), h.step)
    lu.assertAlmostEquals(tonumber(cells[2]), h.loss, 1e-5 * h.loss)
    lu.assertEquals(cells[7], "")                  -- no clipping: no grad_norm
  end
  lu.assertEquals(hist[3].step, 7)
  os.remove(path)
end

function TestTrain:test_plain_lines_when_not_a_terminal()
  local model, opt, task = setup()
  local out = sink()
  train { model = model, optimizer = opt, data = task, steps = 6, eval_every = 2,
          progress = "lines", output = out }
  local text = out:str()
  lu.assertNil(text:find("\r", 1, true))
  lu.assertNil(text:find("\27", 1, true))
  local n = 0
  for line in text:gmatch("[^\n]+") do
    n = n + 1
    lu.assertStrMatches(line, "step %d/6  loss %d%.%d+  acc %d%.%d+  eval_loss %d%.%d+  eval_acc %d%.%d+  lr .* tok/s  .*s")
  end
  lu.assertEquals(n, 3)
  -- the bar redraws one line in place and ends with a newline
  out = sink()
  train { model = model, optimizer = opt, data = task, steps = 3, eval_every = 3,
          progress = "bar", output = out }
  text = out:str()
  lu.assertStrContains(text, "\r[")
  lu.assertStrContains(text, "3/3")
  lu.assertStrContains(text, "ETA")
  lu.assertEquals(text:sub(-1), "\n")
  lu.assertEquals(select(2, text:gsub("\n", "")), 1)
end

function TestTrain:test_detects_a_pipe()
  lu.skipIf(PROG == nil, "LUNET_PROGRAM not set (run through make test)")
  local script = tmp("pipe.lua")
  local f = assert(io.open(script, "w"))
  f:write([[
local lunet = require "lunet"
local train = require "lunet.train"
lunet.manual_seed(1)
local task = lunet.data.copy{vocab_size = 8, seq_len = 8, batch_size = 4}
local m = lunet.nn.TransformerLM{vocab_size = 8, d_model = 8, n_layer = 1, num_heads = 2, max_len = 8}
local opt = lunet.optim.SGD(m:parameters(), {lr = 0.1})
print("terminal", require("lunet.progress").is_terminal())
train{model = m, optimizer = opt, data = task, steps = 4, eval_every = 2}
]])
  f:close()
  local p = io.popen(string.format("%s %s 2>&1", H.q(PROG), script))
  local text = p:read("a")
  p:close()
  os.remove(script)
  lu.assertStrContains(text, "terminal\tfalse")
  lu.assertNil(text:find("\r", 1, true))
  lu.assertStrContains(text, "step 2/4  loss")
  lu.assertStrContains(text, "step 4/4  loss")
end

function TestTrain:test_custom_loss_fn_and_function_data()
  local model, opt, task = setup()
  local calls = 0
  local hist = train {
    model = model, optimizer = opt, steps = 4, eval_every = 2, quiet = true,
    data = function() return task:batch() end,
    loss_fn = function(m, x, y, mask)
      calls = calls + 1
      local logits = m(x)
      return lunet.cross_entropy(logits, y * mask, { ignore_index = 0 })
    end,
  }
  lu.assertEquals(calls, 4)
  lu.assertEquals(#hist, 2)
  lu.assertNil(hist[1].acc)          -- no logits returned: no accuracy
end

function TestTrain:test_bad_options()
  local model, opt, task = setup()
  H.raises("train: unknown option 'stpes'", train,
           { model = model, optimizer = opt, data = task, stpes = 3 })
  H.raises("train: steps is required", train, { model = model, optimizer = opt, data = task })
  H.raises("train: data must be", train, { model = model, optimizer = opt, data = 3, steps = 1 })
  H.raises("train: optimizer must be", train, { model = model, data = task, steps = 1 })
  H.raises("train: clip must be a number > 0", train,
           { model = model, optimizer = opt, data = task, steps = 1, clip = -1 })
  H.raises("train: eval_batches needs data with :eval_batch",
           train, { model = model, optimizer = opt, data = function() return task:batch() end,
                    steps = 1, eval_batches = 1 })
end

-- ---------------------------------------------------------------- checkpoints

TestCheckpoint = {}

function TestCheckpoint:tearDown()
  for _, n in ipairs { "a.safetensors", "b.safetensors", "c.safetensors" } do
    os.remove(tmp(n))
    os.remove(tmp(n) .. ".tmp")
  end
  os.execute("rmdir " .. tmp("c.safetensors") .. ".tmp 2>/dev/null")
end

local function assert_same_model(a, b)
  local sa, sb = a:state_dict(), b:state_dict()
  lu.assertEquals(lunet.nn.Module.keys(sb), lunet.nn.Module.keys(sa))
  for name, t in pairs(sa) do lu.assertTrue(same(t, sb[name]), name) end
end

local function assert_same_optimizer(a, b)
  local sa, sb = a:state_dict(), b:state_dict()
  lu.assertEquals(sb.type, sa.type)
  for k, v in pairs(sa.param_groups[1]) do lu.assertEquals(sb.param_groups[1][k], v, k) end
  local n = 0
  for i, st in pairs(sa.state) do
    n = n + 1
    for k, v in pairs(st) do
      if lunet.is_tensor(v) then lu.assertTrue(same(v, sb.state[i][k]), i .. "." .. k)
      else lu.assertEquals(sb.state[i][k], v, i .. "." .. k) end
    end
  end
  lu.assertTrue(n > 0)
  local m = 0
  for _ in pairs(sb.state) do m = m + 1 end
  lu.assertEquals(m, n)
end

function TestCheckpoint:test_round_trip_adamw_and_sgd()
  for _, name in ipairs { "adamw", "sgd" } do
    local model, opt, task = setup(7, name)
    train { model = model, optimizer = opt, data = task, steps = 3, quiet = true }
    local path = tmp("a.safetensors")
    ckpt.save_checkpoint(path, { model = model, optimizer = opt, step = 3, data = task,
                                 extra = { note = "hello, world", best = 0.25, flag = true,
                                           count = 12, t = lunet.tensor { 1, 2 } } })
    local model2, opt2, task2 = setup(99, name)
    opt2.lr = 0.5
    local step, extra = ckpt.load_checkpoint(path, { model = model2, optimizer = opt2, data = task2 })
    lu.assertEquals(step, 3)
    lu.assertEquals(task2.index, 3)
    lu.assertEquals(extra.note, "hello, world")
    lu.assertEquals(extra.best, 0.25)
    lu.assertEquals(math.type(extra.count), "integer")
    lu.assertEquals(extra.count, 12)
    lu.assertEquals(extra.flag, true)
    H.assert_close(extra.t, { 1, 2 }, 0)
    assert_same_model(model, model2)
    assert_same_optimizer(opt, opt2)
    -- the file is plain safetensors: prefixes and string metadata
    local tensors, meta = lunet.load(path)
    lu.assertNotNil(tensors["model.wte.weight"])
    lu.assertEquals(meta.step, "3")
    lu.assertEquals(meta["lunet.checkpoint"], "1")
    if name == "adamw" then
      lu.assertNotNil(tensors["optim.1.exp_avg"])
      lu.assertEquals(meta["optim.1.step"], "3")
      lu.assertEquals(meta["optim.betas"], "[0.9,0.999]")
      lu.assertEquals(meta["optim.lr"], "0.01")
    else
      lu.assertNotNil(tensors["optim.1.momentum_buffer"])
      lu.assertEquals(meta["optim.nesterov"], "false")
    end
  end
end

-- train N steps, save, train M more; a fresh model and optimiser that load
-- the checkpoint and train M steps see exactly the same losses
function TestCheckpoint:test_resume_continues_the_loss_curve()
  local N, M = 4, 5
  local sched = function(step) return 2e-3 + 1e-3 * math.sin(step) end
  local path = tmp("b.safetensors")
  local model, opt, task = setup(11)
  train { model = model, optimizer = opt, data = task, steps = N, schedule = sched, clip = 1,
          quiet = true }
  ckpt.save_checkpoint(path, { model = model, optimizer = opt, step = N, data = task })
  local first = {}
  train { model = model, optimizer = opt, data = task, steps = M, start_step = N, schedule = sched,
          clip = 1, quiet = true, on_step = function(s, loss) first[s] = loss end }

  local model2, opt2, task2 = setup(12)   -- different initial weights
  local step = ckpt.load_checkpoint(path, { model = model2, optimizer = opt2, data = task2 })
  lu.assertEquals(step, N)
  local second = {}
  train { model = model2, optimizer = opt2, data = task2, steps = M, start_step = step,
          schedule = sched, clip = 1, quiet = true,
          on_step = function(s, loss) second[s] = loss end }
  for s = N + 1, N + M do
    lu.assertNotNil(first[s])
    lu.assertAlmostEquals(second[s], first[s], 1e-6, "step " .. s)
  end
  assert_same_model(model, model2)
end

-- a save that fails leaves the previous checkpoint byte for byte
function TestCheckpoint:test_failed_save_keeps_the_old_file()
  local model, opt, task = setup()
  local path = tmp("c.safetensors")
  ckpt.save_checkpoint(path, { model = model, optimizer = opt, step = 1 })
  local before = read(path)
  lu.assertNotNil(before)
  -- a "model" whose state dict holds something that is not a tensor
  local bad = { state_dict = function() return { "w", w = "oops" } end }
  H.raises("is not a tensor", ckpt.save_checkpoint, path, { model = bad, step = 2 })
  lu.assertEquals(read(path), before)
  H.raises("extra.f is a function", ckpt.save_checkpoint, path,
           { model = model, extra = { f = print } })
  lu.assertEquals(read(path), before)
  -- the write itself fails: the temporary file cannot be created (its
  -- name is 25 bytes longer than the 240-byte name of the target)
  local long = tmp(string.rep("c", 228) .. ".safetensors")
  H.write_file(long, before)
  H.raises("cannot create", ckpt.save_checkpoint, long, { model = model, optimizer = opt, step = 2 })
  lu.assertEquals(read(long), before)
  os.remove(long)
  -- and a good save replaces it, leaving no temporary behind
  train { model = model, optimizer = opt, data = task, steps = 1, quiet = true }
  ckpt.save_checkpoint(path, { model = model, optimizer = opt, step = 2 })
  lu.assertNotEquals(read(path), before)
  lu.assertEquals(H.temporaries(path), {})
end

function TestCheckpoint:test_train_writes_checkpoints()
  local model, opt, task = setup()
  local path = tmp("a.safetensors")
  local saved = {}
  train { model = model, optimizer = opt, data = task, steps = 5, quiet = true, checkpoint = path,
          checkpoint_every = 2,
          on_step = function(step) saved[step] = read(path) ~= nil end }
  lu.assertFalse(saved[1])
  lu.assertTrue(saved[3])               -- written after step 2, before step 3's callback ran
  local _, meta = lunet.load(path)
  lu.assertEquals(meta.step, "5")        -- and at the end
  lu.assertEquals(meta["data.index"], "5")
end

function TestCheckpoint:test_load_mismatch_changes_nothing()
  local model, opt = setup()
  local path = tmp("a.safetensors")
  ckpt.save_checkpoint(path, { model = model, optimizer = opt, step = 5 })
  lunet.manual_seed(3)
  local other = lunet.nn.TransformerLM { vocab_size = 8, d_model = 16, n_layer = 2, num_heads = 2,
                                         max_len = 8 }
  local opt2 = lunet.optim.AdamW(other:parameters(), { lr = 0.5 })
  local w = other.wte.weight:clone()
  H.raises("load_checkpoint: " .. path .. ": AdamW: load_state_dict: state dict has",
           ckpt.load_checkpoint, path, { model = other, optimizer = opt2 })
  lu.assertTrue(same(other.wte.weight, w))
  lu.assertEquals(opt2.lr, 0.5)
  -- the optimiser fits but the model does not: the optimiser is put back
  local opt3 = lunet.optim.AdamW(model:parameters(), { lr = 0.5 })
  local small = lunet.nn.TransformerLM { vocab_size = 8, d_model = 8, n_layer = 1, num_heads = 2,
                                         max_len = 8 }
  H.raises("shape mismatch", ckpt.load_checkpoint, path, { model = small, optimizer = opt3 })
  lu.assertEquals(opt3.lr, 0.5)
  lu.assertNil(next(opt3.state))
  -- not a checkpoint at all
  lunet.save(tmp("b.safetensors"), { x = lunet.ones { 2 } })
  H.raises("not a lunet checkpoint", ckpt.load_checkpoint, tmp("b.safetensors"), { model = model })
  H.raises("unknown option 'modle'", ckpt.save_checkpoint, path, { modle = model })
end

-- ---------------------------------------------------------------- the demo

TestCompareTraining = {}

function TestCompareTraining:test_quick_run_prints_every_variant()
  lu.skipIf(PROG == nil, "LUNET_PROGRAM not set (run through make test)")
  local out = tmp("ct")
  local cmd = string.format("%s ../examples/compare_training.lua --quick --out %s 2>&1", H.q(PROG), out)
  local p = io.popen(cmd)
  local text = p:read("a")
  local ok = p:close()
  lu.assertTrue(ok, text)
  local header = text:match("\n(variant%s+best lr[^\n]*)")
  lu.assertNotNil(header, text)
  for _, col in ipairs { "params", "KV/tok", "test acc mean+-std", "[min, max]", "test loss",
                         "steps to 0.9" } do
    lu.assertStrContains(header, col)
  end
  for _, v in ipairs { "mha", "mqa", "gqa", "mla", "gated" } do
    lu.assertNotNil(text:match("\n" .. v .. "%s+0%.01%s+[%d,]+%s+[%d,]+%s+%d%.%d+ %+%- %d%.%d+%s+%[%d%.%d+, %d%.%d+%]"),
                    v .. " row missing:\n" .. text)
    lu.assertNotNil(text:match("%[%d+/10%] " .. v .. "%s+lr 0%.01"), "progress of " .. v)
    -- the per-lr table: validation loss (* at the chosen lr) and the seeds at 0.9 of the 2 run there
    lu.assertNotNil(text:match("\n" .. v .. "%s+%d+%.%d+%* [0-2]/2\n"), v .. " per-lr row missing:\n" .. text)
  end
  lu.assertNotNil(text:match("\nval loss, seeds at 0%.9%s+lr 0%.01\n"), text)
  -- one CSV line per (variant, lr, seed, step): 5 variants x 1 lr x 2 seeds x 2 points
  local csv = read(out .. "/compare_training.csv")
  lu.assertNotNil(csv)
  lu.assertEquals(csv:match("^[^\n]*"), "variant,lr,seed,step,loss,acc,val_loss,val_acc,test_loss,test_acc,params,kv")
  local lines = 0
  for _ in csv:gmatch("\n") do lines = lines + 1 end
  lu.assertEquals(lines, 1 + 5 * 1 * 2 * 2)
  lu.assertStrContains(csv, "\ngated,0.01,2,20,")
  lu.assertStrContains(text, "curves: " .. out .. "/compare_training.csv")
  if text:find("plot:   " .. out .. "/compare_training.png", 1, true) then
    local png = read(out .. "/compare_training.png")
    lu.assertEquals(png:sub(1, 8), "\137PNG\r\n\26\n")
  end
  -- the CSV alone gives the same table
  local function table_of(t) return t:match("\n(variant%s+best lr.-)\n\n%(%*") end
  p = io.popen(string.format("%s ../examples/compare_training.lua --from %s/compare_training.csv --no-plot 2>&1",
                             H.q(PROG), out))
  local again = p:read("a")
  p:close()
  lu.assertNotNil(table_of(text), text)
  lu.assertEquals(table_of(again), table_of(text))
  -- a subset of variants, a flag error
  p = io.popen(string.format("%s ../examples/compare_training.lua --quick --steps 3 "
                             .. "--variants mha,mla --no-plot --out %s 2>&1", H.q(PROG), out))
  text = p:read("a")
  p:close()
  lu.assertNotNil(text:match("\nmha%s+%d"))
  lu.assertNotNil(text:match("\nmla%s+%d"))
  lu.assertNil(text:match("\ngqa%s+%d"))
  p = io.popen(string.format("%s ../examples/compare_training.lua --variants mha,xyz 2>&1", H.q(PROG)))
  text = p:read("a")
  ok = p:close()
  lu.assertNotEquals(ok, true)
  lu.assertStrContains(text, "unknown variant 'xyz'")
  os.execute("rm -rf " .. out)
end
