--[[
Train the same small TransformerLM with each attention variant, each at
its best learning rate over several seeds, and compare them: held-out
recall with its spread over seeds, loss, steps to 0.9 recall, parameters
and KV cache per token.  This is `make demo`; --full runs a larger grid.

  lunet examples/compare_training.lua                 (make demo)
  lunet examples/compare_training.lua --full          (a larger grid: 150 runs, about 7 minutes)
  lunet examples/compare_training.lua --variants mha,mla --lrs 1e-3,3e-3 --seeds 1,2,3,4
  lunet examples/compare_training.lua --match params  (every variant at MHA's parameters)
  lunet examples/compare_training.lua --from out/compare_training.csv   (the summary again)
  lunet examples/compare_training.lua --help

Each (variant, learning rate, seed) is one run of lunet.sweep, trained in
its own process, --jobs at a time; under mpirun (`mpirun -np 2 lunet
examples/compare_training.lua`) the runs are spread over the ranks
instead, and rank 0 prints the same table.  A variant's learning rate is
the one with the lowest mean validation loss over the seeds (held-out batches 1..4);
the table reports the test batches after those, which the choice never
saw.  out/compare_training.csv has one line per (variant, lr, seed, step),
and --from recomputes the table from it.  The PNG shows, at each
variant's best learning rate, the validation recall curves (mean, and the
band from the worst to the best seed), the fraction of seeds that have
reached 0.9 by each step, the training loss, and test recall against
KV-cache floats per token.  README.md ("Comparing the variants") says how
the default setting was chosen and what it shows.
]]
local lunet = require "lunet"
local dist = require "lunet.distributed"
local sweep = require "lunet.sweep"
local plot = require "lunet.plot"
local util = require "lunet.util"
local cli = require "lunet.cli"

-- ---------------------------------------------------------------- flags

local VARIANTS = { "mha", "mqa", "gqa", "mla", "gated" }
local TASKS = { mqar = true, copy = true, reverse = true, sort = true, modadd = true }

-- name, default, help
local FLAGS = {
  { "task", "mqar", "mqar, copy, reverse, sort or modadd" },
  { "variants", table.concat(VARIANTS, ","), "comma-separated attention variants" },
  { "lrs", "3e-4,1e-3", "learning rates tried per variant (AdamW peak)" },
  { "seeds", "1,2,3,4,5", "seeds (model initialisation and data) per learning rate" },
  { "steps", 1250, "optimiser steps per run" },
  { "batch", 32, "sequences per batch" },
  { "vocab", 16, "vocabulary size (not modadd)" },
  { "seq-len", 16, "sequence length (not modadd)" },
  { "kv-pairs", 2, "mqar: key-value pairs per sequence" },
  { "p", 23, "modadd: the modulus" },
  { "d-model", 64, "model width" },
  { "layers", 2, "transformer blocks" },
  { "heads", 4, "attention heads" },
  { "mlp-ratio", 2, "MLP hidden size / d_model" },
  { "match", nil, "params or kv: every variant at MHA's budget (TransformerLM's match)" },
  { "weight-decay", 0.01, "AdamW weight decay" },
  { "eval-every", 50, "steps between points of the curves" },
  { "val-batches", 4, "held-out batches the learning rate is chosen on" },
  { "test-batches", 8, "further held-out batches the table reports" },
  { "jobs", 2, "runs trained at once, each in its own process" },
  { "out", "out", "directory for the CSV and the PNG" },
  { "from", nil, "recompute the table (and plot) from this CSV instead of training" },
  { "no-plot", false, "no PNG" },
  { "full", false, "the larger grid of make sweep: lr 3e-4,1e-3,3e-3 x seeds 1-10 (150 runs)" },
  { "quick", false, "a tiny configuration that runs in seconds (for tests)" },
}

-- --full: the grid the default setting was chosen on (a third learning rate
-- and seeds 6-10 as well), at the demo's budget
local FULL = { lrs = "3e-4,1e-3,3e-3", seeds = "1,2,3,4,5,6,7,8,9,10" }
local QUICK = { lrs = "1e-2", seeds = "1,2", steps = 20, batch = 8, vocab = 16, ["seq-len"] = 16,
                ["kv-pairs"] = 2, ["d-model"] = 16, layers = 1, heads = 2, ["eval-every"] = 10,
                ["val-batches"] = 1, ["test-batches"] = 1 }

local parser = cli.parser("compare_training.lua",
  "Train a small TransformerLM with each attention variant at its best learning rate over several " ..
  "seeds, and compare them (make demo).",
  "--full sets --lrs " .. FULL.lrs .. " --seeds " .. FULL.seeds .. " (flags given win).")
cli.flags(parser, FLAGS, false)     -- the presets fill what is not given, then the defaults

local function die(fmt, ...)
  parser:error(string.format(fmt, ...))
end

local function list(s, what, convert)
  local out = {}
  for item in tostring(s):gmatch("[^,%s]+") do
    local v = convert(item)
    if v == nil then die("--%s: bad item '%s'", what, item) end
    out[#out + 1] = v
  end
  if #out == 0 then die("--%s is empty", what) end
  return out
end

local function parse(args)
  local o = cli.parse(parser, args)
  local given = {}
  for _, f in ipairs(FLAGS) do
    given[f[1]] = o[f[1]] ~= nil
    if type(f[2]) == "boolean" then o[f[1]] = o[f[1]] or false end
  end
  for _, preset in ipairs { o.full and FULL, o.quick and QUICK } do
    for k, v in pairs(preset or {}) do if not given[k] then o[k] = v end end
  end
  for _, f in ipairs(FLAGS) do
    if o[f[1]] == nil and type(f[2]) ~= "boolean" then o[f[1]] = f[2] end
  end
  for _, f in ipairs(FLAGS) do
    local k = f[1]
    if type(f[2]) == "number" then
      local n = tonumber(o[k])
      if n == nil or n <= 0 then die("--%s must be a positive number, got '%s'", k, tostring(o[k])) end
      o[k] = math.tointeger(n) or n
    end
  end
  for _, k in ipairs { "steps", "batch", "vocab", "seq-len", "kv-pairs", "p", "d-model", "layers", "heads",
                       "eval-every", "val-batches", "test-batches", "jobs" } do
    if math.type(o[k]) ~= "integer" then die("--%s must be an integer", k) end
  end
  o.variant_list = list(o.variants, "variants", function(v)
    for _, known in ipairs(VARIANTS) do if known == v then return v end end
    die("unknown variant '%s' (one of %s)", v, table.concat(VARIANTS, ", "))
  end)
  o.lr_list = list(o.lrs, "lrs", function(v) local n = tonumber(v); return n and n > 0 and n or nil end)
  o.seed_list = list(o.seeds, "seeds", function(v) return math.tointeger(tonumber(v)) end)
  if o.match and o.match ~= "params" and o.match ~= "kv" then die("--match must be params or kv") end
  if not TASKS[o.task] then die("--task must be mqar, copy, reverse, sort or modadd, got '%s'", o.task) end
  if o.from then   -- a usage error, not sweep.read_csv's traceback
    local f, why = io.open(o.from)
    if not f then die("--from: %s", why) end
    f:close()
  end
  return o
end

local o = parse(arg or {})

-- ---------------------------------------------------------------- the sweep

local task = { name = o.task, batch_size = o.batch }
if o.task == "modadd" then task.p = o.p
else task.vocab_size, task.seq_len = o.vocab, o["seq-len"] end
if o.task == "mqar" then task.num_kv_pairs = o["kv-pairs"] end
local spec = {
  task = task,
  model = { d_model = o["d-model"], n_layer = o.layers, num_heads = o.heads, mlp_ratio = o["mlp-ratio"],
            match = o.match or nil },
  variants = o.variant_list, lrs = o.lr_list, seeds = o.seed_list, steps = o.steps,
  weight_decay = o["weight-decay"], eval_every = o["eval-every"], val_batches = o["val-batches"],
  test_batches = o["test-batches"], jobs = o.jobs,
}

local task_desc = o.task == "mqar" and string.format("MQAR: vocab %d, seq_len %d, %d key-value pairs", o.vocab,
                                                     o["seq-len"], o["kv-pairs"])
                  or o.task == "modadd" and string.format("modadd: p %d", o.p)
                  or string.format("%s: vocab %d, seq_len %d", o.task, o.vocab, o["seq-len"])
local desc = string.format("%s; d_model %d, %d layers, %d heads, mlp_ratio %s%s", task_desc, o["d-model"],
                           o.layers, o.heads, tostring(o["mlp-ratio"]), o.match and (", matched " .. o.match) or "")
local train_desc = string.format("AdamW (warm-up %d, cosine), batch %d, %d steps; lr %s x seeds %s",
                                 o.steps // 10, o.batch, o.steps, table.concat(o.lr_list, ","),
                                 table.concat(o.seed_list, ","))

os.execute("mkdir -p " .. string.format("%q", o.out))
local csv_path = o.out .. "/compare_training.csv"
local t0 = lunet._now()
local rows
if o.from then
  rows = sweep.read_csv(o.from)
  print("from " .. o.from)
else
  local rank = dist.init()   -- under mpirun the grid is spread over the ranks
  if rank == 0 then print(desc); print(train_desc) end
  local _
  _, rows = sweep.run(spec)
  if rank ~= 0 then return end   -- rank 0 writes the CSV, the table and the plot
  sweep.write_csv(csv_path, rows)
  rows = sweep.read_csv(csv_path)       -- the table is made from the CSV, so the CSV reproduces it
end

-- ---------------------------------------------------------------- the table

local summary = sweep.summarise(rows, 0.9)
print()
print(sweep.format(summary))

-- per learning rate: the validation loss the choice is made on, and the
-- seeds that reached the target there (how much the verdict hangs on the lr)
local lrs, seen, last_step, every = {}, {}, 0, math.huge
for _, r in ipairs(rows) do
  if not seen[r.lr] then seen[r.lr] = true; lrs[#lrs + 1] = r.lr end
  last_step, every = math.max(last_step, r.curve[#r.curve].step), math.min(every, r.curve[1].step)
end
table.sort(lrs)
local cells = { { "val loss, seeds at " .. summary.target_acc } }
for _, lr in ipairs(lrs) do cells[1][#cells[1] + 1] = string.format("lr %g", lr) end
for _, s in ipairs(summary) do
  local line = { s.variant }
  for j, lr in ipairs(lrs) do
    line[j + 1] = "--"
    for _, e in ipairs(s.lrs) do
      if e.lr == lr then
        line[j + 1] = string.format("%.3f%s %d/%d", e.val_loss, lr == s.best_lr and "*" or " ", e.reached, e.runs)
      end
    end
  end
  cells[#cells + 1] = line
end
print()
print(util.text_table(cells, { left = 1, rule = true }))
local acc_word = o.task == "mqar" and "recall" or "accuracy"
local test_seqs = o.from and "the" or string.format("%d", o["test-batches"] * o.batch)
print(string.format("\n(* the learning rate chosen: lowest mean validation loss over the seeds.)\n" ..
                    "test acc: " .. acc_word .. " on %s held-out sequences per seed, mean +- std over seeds and " ..
                    "[worst, best] seed;\nsteps to 0.9: first evaluation (every %d steps) with validation " ..
                    "accuracy >= 0.9, per seed (- : not within %d steps).  KV/tok: cache floats per token, " ..
                    "all layers.", test_seqs, every, last_step))
if not o.from then
  print(string.format("total %.0f s; curves: %s", lunet._now() - t0, csv_path))
end

-- ---------------------------------------------------------------- the figure

if o["no-plot"] then return end

-- each variant's runs (curves) at its best lr
local function runs_of(s)
  local curves = {}
  for _, r in ipairs(rows) do
    if r.variant == s.variant and r.lr == s.best_lr then curves[#curves + 1] = r.curve end
  end
  return curves
end

local function label(s) return string.format("%s (lr %g)", s.variant, s.best_lr) end

-- the mean of a field over the seeds, and the band from the worst to the
-- best seed (lunet.plot.spread)
local function band(s, field)
  return plot.spread(runs_of(s), { y = field, name = label(s) })
end

-- the fraction of seeds whose validation accuracy has reached the target
-- by each step: the steps-to-target column as a curve
local function reached(s)
  local curves = runs_of(s)
  local series = { name = label(s), x = {}, y = {} }
  for i, point in ipairs(curves[1]) do
    local n = 0
    for _, c in ipairs(curves) do
      for j = 1, math.min(i, #c) do
        if c[j].val_acc and c[j].val_acc >= summary.target_acc then n = n + 1; break end
      end
    end
    series.x[i], series.y[i] = point.step, n / #curves
  end
  return series
end

local recall, seeds_at, loss, kv = {}, {}, {}, {}
local kv_hi = 0
for _, s in ipairs(summary) do
  recall[#recall + 1] = band(s, "val_acc")
  seeds_at[#seeds_at + 1] = reached(s)
  loss[#loss + 1] = band(s, "loss")
  kv[#kv + 1] = { name = s.variant, x = { s.kv }, y = { s.test_acc.mean }, lo = { s.test_acc.min },
                  hi = { s.test_acc.max } }
  kv_hi = math.max(kv_hi, s.kv)
end
local target = string.format("%g", summary.target_acc)
local png = o.out .. "/compare_training.png"
local ok, why = plot.figure({
  { kind = "lines", title = "held-out " .. acc_word .. " at each variant's best lr (mean; band: worst..best seed)",
    xlabel = "step", ylabel = acc_word, xrange = { 0, last_step }, yrange = { 0, 1.05 }, series = recall,
    key = "bottom right" },
  { kind = "lines", title = "seeds whose held-out " .. acc_word .. " has reached " .. target,
    xlabel = "step", ylabel = "fraction of seeds", xrange = { 0, last_step }, yrange = { 0, 1.05 },
    series = seeds_at, key = "top left" },
  { kind = "lines", title = "training loss (mean; band: worst..best seed)", xlabel = "step", ylabel = "loss",
    xrange = { 0, last_step }, logy = true, series = loss, key = "bottom left" },
  { kind = "points", title = "test " .. acc_word .. " vs KV cache (mean; bar: worst..best seed)",
    xlabel = "KV-cache floats per token (all layers)", ylabel = acc_word, xrange = { 0, kv_hi * 1.15 },
    yrange = { 0, 1.05 }, series = kv, key = "bottom right" },
}, { out = png, title = o.from and ("from " .. o.from) or (desc .. "; " .. train_desc), layout = { 2, 2 },
     width = 1600, height = 1000 })
print(ok and ("plot:   " .. png) or ("plot:   skipped (" .. why .. ")"))
