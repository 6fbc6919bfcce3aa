--[[
lunet.train{...} -> history: a training loop for the common case.  Scripts
that need something else write their own loop; this one is short on
purpose and every piece it uses is public.

  local history = lunet.train {
    model = model, optimizer = opt, data = task, steps = 1000,
    eval_every = 100,         -- log (and print, and evaluate) every N steps;
                              --   default steps // 10 (at least 1): 10 rows
    eval_batches = 2,         -- held-out batches data:eval_batch(1..n) per log;
                              --   default 1 when data has :eval_batch (every
                              --   lunet.data task), else 0; 0: no evaluation
    log = "run.csv",          -- CSV log, one row per logged step (nil: none)
    schedule = sched,         -- function(step) -> lr, set before each step
    clip = 1.0,               -- clip_grad_norm's max_norm
    loss_fn = f,              -- see below
    quiet = false,            -- no progress output at all
    on_step = function(step, loss, info) end,   -- after every step
    start_step = 0,           -- steps already taken (resuming): steps are
                              --   numbered start_step+1 .. start_step+steps
    checkpoint = "ckpt.safetensors",   -- lunet.save_checkpoint at the end and
    checkpoint_every = 500,            --   every N steps (model, optimizer, step, data)
    nonfinite = "stop",       -- a NaN/inf loss or gradient norm: "stop" (an error
                              --   naming the step and parameter) or "skip" the step
  }

data is a lunet.data task (anything with :batch() -> inputs, targets, mask
and, for evaluation, :eval_batch(k)), or a function returning a batch.

The default loss is cross_entropy(model(inputs), targets masked by mask,
{ignore_index = 0}): only the positions the task scores count.  Accuracy is
the fraction of those positions where argmax(logits) is the target.
loss_fn(model, inputs, targets, mask) -> loss [, logits, scored_targets]
replaces it; accuracy is reported when it also returns the logits and
the targets to score them against (0 = not scored).

history[i] = {step, loss, acc, eval_loss, eval_acc, lr, grad_norm,
tokens_per_s, elapsed}: loss, acc and grad_norm are means over the steps
since the previous row (so with eval_every = 1, each step's own values);
eval_* are there when eval_batches > 0; tokens_per_s is over those steps;
elapsed is wall seconds since the start.  The CSV has the same columns.
history.skipped lists the steps skipped for nonfinite = "skip" (not
logged, in no mean, no checkpoint at them; see lunet/nonfinite.lua).

Progress (lunet.progress): on a terminal, one line redrawn in place with
a bar, loss, accuracy, the last evaluation, tokens/s and ETA, fitted to
the terminal's width; otherwise (a pipe, a file) a plain line every
eval_every steps, so logs stay readable.  opts.progress = "bar" or "lines"
forces either, and opts.output (default io.stdout) is where it goes.

Under mpirun, with a lunet.distributed DistributedDataParallel model, a
lunet.data task is sharded over the ranks (task:shard), only rank 0
prints, writes the log and saves checkpoints, and every rank's history
holds the whole job's loss, accuracy and tokens/s (on_step sees its own
rank's loss).

Errors (in the model, the loss, a callback) are not caught: they reach the
caller with their traceback whole, reported at the caller's line; the log
is closed and the progress line ended on the way out.  Unknown options are
errors (util.check_options).
]]
local lunet = require "lunet"
local nonfinite = require "lunet.nonfinite"
local util = require "lunet.util"
local Module = require "lunet.nn.module"

local train = {}

-- raised at the user's line, like any error of lunet's Lua code (util.fail)
local cross_entropy = Module.op(lunet.cross_entropy)

local now = lunet._now or os.clock   -- monotonic wall clock when the core has one

-- ---------------------------------------------------------------- output

-- the progress bar and log lines live in lunet.progress
local progress = require "lunet.progress"
train.clock_str = progress.clock_str

-- ---------------------------------------------------------------- CSV

train.COLUMNS = { "step", "loss", "acc", "eval_loss", "eval_acc", "lr", "grad_norm",
                  "tokens_per_s", "elapsed" }

local csv_value = util.csv_cell

local function csv_row(row)
  local out = {}
  for i, k in ipairs(train.COLUMNS) do out[i] = csv_value(row[k]) end
  return table.concat(out, ",")
end

-- ---------------------------------------------------------------- loss

-- targets with the unscored positions set to 0 (ignore_index)
local function scored(targets, mask)
  if mask == nil then return targets end
  return targets * mask
end

-- train.default_loss(model, inputs, targets, mask) -> loss, logits, scored
-- targets: cross_entropy over the positions mask scores (see above)
function train.default_loss(model, inputs, targets, mask)
  local logits = model(inputs)
  local y = scored(targets, mask)
  return cross_entropy(logits, y, { ignore_index = 0 }), logits, y
end

-- correct, count: argmax hits over the positions whose target is not 0
function train.hits(logits, y)
  local pred = logits:detach():argmax(-1)
  return pred:eq(y):sum():item(), y:ne(0):sum():item()
end

-- fraction of scored positions predicted right (nil if none are scored)
function train.accuracy(logits, targets, mask)
  local c, n = train.hits(logits, scored(targets, mask))
  if n == 0 then return nil end
  return c / n
end

local function next_batch(data)
  if type(data) == "function" then return data() end
  return data:batch()
end

--[[
train.evaluate(model, data, n [, loss_fn]) -> loss, acc: the mean over
the held-out batches data:eval_batch(1..n), with grad off and the model
in eval mode (put back as it was).
]]
function train.evaluate(model, data, n, loss_fn)
  loss_fn = loss_fn or train.default_loss
  local _ <close> = util.eval_mode(model)
  local _ <close> = util.grad_mode(false)
  local total, hits, count = 0, 0, 0
  for k = 1, n do
    local x, y, m = data:eval_batch(k)
    local loss, logits, sy = loss_fn(model, x, y, m)
    total = total + loss:item()
    if logits and sy then
      local c, cnt = train.hits(logits, sy)
      hits, count = hits + c, count + cnt
    end
  end
  return total / n, count > 0 and hits / count or nil
end

-- ---------------------------------------------------------------- options

local KNOWN = {
  "model", "optimizer", "data", "steps", "eval_every", "eval_batches", "log", "schedule", "clip",
  "loss_fn", "quiet", "on_step", "start_step", "progress", "output", "checkpoint",
  "checkpoint_every",
  "nonfinite",
}

local function fail(fmt_, ...)
  util.fail("train", fmt_, ...)
end

local function check(o)
  if type(o) ~= "table" then fail("expected an options table, got %s", type(o)) end
  util.check_options("train", o, KNOWN)
  if type(o.model) ~= "table" then
    fail("model must be a module, got %s", type(o.model))
  end
  if type(o.optimizer) ~= "table" or type(o.optimizer.step) ~= "function" then
    fail("optimizer must be an optimiser (with step and zero_grad), got %s", type(o.optimizer))
  end
  local d = o.data
  if type(d) ~= "function" and not (type(d) == "table" and type(d.batch) == "function") then
    fail("data must be a task with :batch() or a function returning a batch, got %s", type(d))
  end
  local function int(name, lo, default)
    local v = o[name]
    if v == nil then return default end
    local iv = type(v) == "number" and math.tointeger(v)
    if not iv or iv < lo then fail("%s must be an integer >= %d, got %s", name, lo, tostring(v)) end
    return iv
  end
  local steps = int("steps", 0)
  if steps == nil then fail("steps is required") end
  local eval_every = int("eval_every", 1, math.max(1, steps // 10))
  -- evaluation is on when the data can do it: one held-out batch per row
  local can_eval = type(d) == "table" and type(d.eval_batch) == "function"
  local eval_batches = int("eval_batches", 0, can_eval and 1 or 0)
  local start = int("start_step", 0, 0)
  local ckpt_every = int("checkpoint_every", 1, nil)
  if eval_batches > 0 and (type(d) ~= "table" or type(d.eval_batch) ~= "function") then
    fail("eval_batches needs data with :eval_batch(k)")
  end
  if o.clip ~= nil and (type(o.clip) ~= "number" or not (o.clip > 0)) then
    fail("clip must be a number > 0, got %s", tostring(o.clip))
  end
  for _, k in ipairs { "schedule", "loss_fn", "on_step" } do
    if o[k] ~= nil and type(o[k]) ~= "function" then
      fail("%s must be a function, got %s", k, type(o[k]))
    end
  end
  if o.log ~= nil and type(o.log) ~= "string" then
    fail("log must be a file name, got %s", type(o.log))
  end
  if o.checkpoint ~= nil and type(o.checkpoint) ~= "string" then
    fail("checkpoint must be a file name, got %s", type(o.checkpoint))
  end
  if nonfinite.check_option(o.nonfinite) then fail("%s", nonfinite.check_option(o.nonfinite)) end
  if o.progress ~= nil and o.progress ~= "bar" and o.progress ~= "lines" then
    fail("progress must be 'bar' or 'lines', got %s", tostring(o.progress))
  end
  return steps, eval_every, eval_batches, start, ckpt_every
end

-- ---------------------------------------------------------------- the loop

-- loss:backward(), its errors at the user's line
local backward = util.op(function(loss) return loss:backward() end)

-- what loss_fn returned must be a loss backward can start from
local function check_loss(step, loss)
  if not lunet.is_tensor(loss) then
    fail("step %d: the loss function returned %s, expected a tensor", step, type(loss))
  end
  if loss:numel() ~= 1 then
    fail("step %d: the loss has shape %s, expected one element", step, util.shape_str(loss))
  end
  if not loss:requires_grad() then
    fail("step %d: the loss does not require grad (it depends on no parameter that does)", step)
  end
end

local function set_lr(opt, lr)
  if type(opt.set_lr) == "function" then opt:set_lr(lr) else opt.lr = lr end
end

-- train.run(opts) -> history: the loop itself; lunet.train{...} calls it
local function run(o)
  local steps, eval_every, eval_batches, start, ckpt_every = check(o)
  local model, opt, data = o.model, o.optimizer, o.data
  local loss_fn = o.loss_fn or train.default_loss
  local params = type(model.parameters) == "function" and model:parameters() or opt.params
  local last = start + steps
  -- data parallel (lunet.distributed): only rank 0 prints, logs and saves
  local world = require("lunet.distributed")._training(model, data)
  local bar = progress.new { first = start, last = last, mode = o.progress, output = o.output,
                             quiet = o.quiet or not world.leader }
  local csv
  if o.log and world.leader then
    local err
    csv, err = io.open(o.log, "w")
    if not csv then fail("cannot write the log: %s", tostring(err)) end
    csv:write(table.concat(train.COLUMNS, ","), "\n")
    csv:flush()
  end
  local save_ckpt = o.checkpoint and world.leader and require("lunet.checkpoint").save_checkpoint

  local history = { skipped = {} }
  local t_start = now()
  local win = { loss = 0, hits = 0, count = 0, norm = 0, n = 0, tokens = 0, t = t_start }
  local tok_per_step = 0

  local function log_row(step)
    world.reduce(win)    -- the whole job's window (several ranks)
    local t = now()
    local row = {
      step = step, loss = win.loss / win.n,
      acc = win.count > 0 and win.hits / win.count or nil,
      lr = opt.lr, grad_norm = o.clip and win.norm / win.n or nil,
      tokens_per_s = t > win.t and win.tokens / (t - win.t) or nil,
    }
    if eval_batches > 0 then row.eval_loss, row.eval_acc = train.evaluate(model, data, eval_batches, loss_fn) end
    row.elapsed = now() - t_start
    history[#history + 1] = row
    if csv then
      csv:write(csv_row(row), "\n")
      csv:flush()
    end
    bar:row(row)
    win = { loss = 0, hits = 0, count = 0, norm = 0, n = 0, tokens = 0, t = now() }
    return row
  end

  local function draw(step, loss, acc)
    local elapsed = now() - t_start
    bar:update(step, { loss = loss, acc = acc, elapsed = elapsed,
                       tokens_per_s = elapsed > 0 and (step - start) * tok_per_step / elapsed or nil })
  end

  -- on the way out, error or not: close the log, end the bar's line.
  -- Nothing is caught, so an error keeps its traceback.
  local _ <close> = util.defer(function()
    if csv then csv:close() end
    bar:close()
  end)
  for step = start + 1, last do
    if o.schedule then set_lr(opt, o.schedule(step)) end
    local x, y, m = next_batch(data)
    local loss, logits, sy = loss_fn(model, x, y, m)
    check_loss(step, loss)
    opt:zero_grad()
    backward(loss)
    local norm = o.clip and lunet.optim.clip_grad_norm(params, o.clip) or nil
    if nonfinite.check(o.nonfinite, step, loss, norm, model, params) then   -- or raises
      history.skipped[#history.skipped + 1] = step
      goto next_step
    end
    opt:step()
    local lv = loss:item()
    local c, n
    if logits and sy then c, n = train.hits(logits, sy) end
    win.loss, win.n = win.loss + lv, win.n + 1
    win.tokens = win.tokens + x:numel()
    tok_per_step = x:numel() * world.size
    if norm then win.norm = win.norm + norm end
    if c then win.hits, win.count = win.hits + c, win.count + n end
    local acc = n and n > 0 and c / n or nil
    if o.on_step then o.on_step(step, lv, { acc = acc, lr = opt.lr, grad_norm = norm }) end
    local row
    if (step - start) % eval_every == 0 or step == last then row = log_row(step) end
    -- the bar shows the means since the last logged row: steadier than one step's
    if row then draw(step, row.loss, row.acc)
    else draw(step, win.loss / win.n, win.count > 0 and win.hits / win.count or nil) end
    if save_ckpt and ((ckpt_every and (step - start) % ckpt_every == 0) or step == last) then
      local resumable = type(data) == "table" and math.type(data.index) == "integer"
      save_ckpt(o.checkpoint, { model = model, optimizer = opt, step = step,
                                data = resumable and data or nil })
    end
    ::next_step::
  end
  return history
end
train.run = run

-- lunet.train{...} calls train.run
return setmetatable(train, { __call = function(_, o) return run(o) end })
