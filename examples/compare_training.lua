--[[
Train the same small TransformerLM with each attention variant on the same
task, data, seed and budget, and compare them in one table: parameters,
forward FLOPs per token, KV cache per token, final loss, accuracy on
held-out batches, training speed and wall time.  The loss and accuracy
curves go to a CSV and, through gnuplot, to a PNG.

  lunet examples/compare_training.lua                 (this is `make demo`)
  lunet examples/compare_training.lua --variants mha,mla --steps 2000
  lunet examples/compare_training.lua --task copy --quick
  lunet examples/compare_training.lua --help

The default is multi-query associative recall (MQAR, as in the Zoology
benchmark): each sequence lists key-value pairs, then asks for the keys
again; only the value at each query is scored, so accuracy is recall.
The default configuration (about 100 s on 2 cores: two variants train at
once, see --jobs) is one where MHA learns the task (recall 0.999 with
seed 1).  Such small models leave a loss plateau at ln(kv pairs) only
after a few hundred steps, and when is partly luck: other seeds and
variants may stay on it within the budget (with --steps 2000, MQA leaves
it near step 1200; MLA still has not by step 2000).
]]
local lunet = require "lunet"
local train = require "lunet.train"

-- ---------------------------------------------------------------- flags

local VARIANTS = { "mha", "mqa", "gqa", "mla", "gated" }
local TASKS = { mqar = true, copy = true, reverse = true, sort = true, modadd = true }

-- name, default, help; defaults of nil are worked out from the others
local FLAGS = {
  { "task", "mqar", "mqar, copy, reverse, sort or modadd" },
  { "variants", table.concat(VARIANTS, ","), "comma-separated attention variants" },
  { "steps", 900, "optimiser steps per variant" },
  { "batch", 32, "sequences per batch" },
  { "seq-len", nil, "sequence length (mqar 32; copy/reverse/sort 16; modadd is 4)" },
  { "vocab", nil, "vocabulary size (mqar 32; copy/reverse/sort 16)" },
  { "kv-pairs", 4, "mqar: key-value pairs per sequence" },
  { "p", 23, "modadd: the modulus" },
  { "d-model", 128, "model width" },
  { "layers", 2, "transformer blocks" },
  { "heads", 4, "attention heads" },
  { "mlp-ratio", 2, "MLP hidden size / d_model" },
  { "untied", false, "a separate output projection instead of the tied embedding" },
  { "group-size", nil, "gqa: query heads per key/value head (default: heads / 2, at least 1)" },
  { "mla-down", nil, "mla: latent size down_dim (default d_model / 2)" },
  { "mla-up", nil, "mla: up_dim (default d_model)" },
  { "mla-rope", nil, "mla: rope_head_dim (default head_dim / 2)" },
  { "latent-rank", nil, "gated: latent_rank (default head_dim / 2)" },
  { "lr", 1e-3, "peak learning rate (AdamW)" },
  { "weight-decay", 0.01, "AdamW weight decay" },
  { "warmup", nil, "warm-up steps before the cosine decay (default steps / 10)" },
  { "clip", 1.0, "gradient norm clipping (0: off)" },
  { "seed", 1, "seed of the model initialisation and of the data" },
  { "eval-every", nil, "steps between points of the curves (default steps / 20)" },
  { "eval-batches", 8, "held-out batches for the final loss and accuracy" },
  { "jobs", 2, "variants trained at once, each in its own process (1: one after another)" },
  { "threads", nil, "OpenBLAS threads (default: lunet's)" },
  { "worker", nil, "(internal) train this one variant and write its result file" },
  { "out", "out", "directory for the CSV and the PNG" },
  { "no-plot", false, "write the CSV only" },
  { "quick", false, "a tiny configuration that runs in seconds (for tests)" },
  { "help", false, "this text" },
}

local QUICK = { steps = 40, batch = 8, ["seq-len"] = 16, vocab = 16, ["kv-pairs"] = 2,
                ["d-model"] = 32, layers = 1, heads = 4, ["eval-batches"] = 1,
                ["eval-every"] = 10 }

local function usage(out)
  out:write("usage: lunet examples/compare_training.lua [--flag value ...]\n\n")
  for _, f in ipairs(FLAGS) do
    local d = f[2]
    local dtext = (d == nil or d == false) and "" or string.format(" (default %s)", tostring(d))
    out:write(string.format("  --%-13s %s%s\n", f[1], f[3], dtext))
  end
end

local function die(fmt, ...)
  io.stderr:write("compare_training: ", string.format(fmt, ...), "\n")
  os.exit(2)
end

local function parse(args)
  local spec, o, given = {}, {}, {}
  for _, f in ipairs(FLAGS) do spec[f[1]] = f; o[f[1]] = f[2] end
  local i = 1
  while i <= #args do
    local a = args[i]
    local name, value = a:match("^%-%-([%w-]+)=(.*)$")
    if not name then name = a:match("^%-%-([%w-]+)$") end
    local f = name and spec[name]
    if not f then die("unknown argument '%s' (see --help)", a) end
    if type(f[2]) == "boolean" then
      if value then die("--%s takes no value", name) end
      o[name] = true
    else
      if value == nil then
        i = i + 1
        value = args[i]
        if value == nil then die("--%s needs a value", name) end
      end
      o[name] = value
    end
    given[name] = true
    i = i + 1
  end
  if o.help then usage(io.stdout); os.exit(0) end
  if o.quick then
    for k, v in pairs(QUICK) do if not given[k] then o[k] = v end end
  end
  -- numbers
  for _, f in ipairs(FLAGS) do
    local k, v = f[1], o[f[1]]
    if type(v) == "string" and (type(f[2]) == "number" or (f[2] == nil and k ~= "worker")) then
      local n = tonumber(v)
      if n == nil then die("--%s must be a number, got '%s'", k, v) end
      o[k] = n
    end
  end
  if not TASKS[o.task] then die("--task must be mqar, copy, reverse, sort or modadd, got '%s'", o.task) end
  local list = {}
  for v in tostring(o.variants):gmatch("[^,%s]+") do
    local ok = false
    for _, known in ipairs(VARIANTS) do ok = ok or known == v end
    if not ok then die("unknown variant '%s' (one of %s)", v, table.concat(VARIANTS, ", ")) end
    list[#list + 1] = v
  end
  if #list == 0 then die("--variants is empty") end
  if o.worker then
    local ok = false
    for _, known in ipairs(VARIANTS) do ok = ok or known == o.worker end
    if not ok then die("unknown variant '%s'", tostring(o.worker)) end
  end
  o.variant_list = list
  for _, k in ipairs { "steps", "batch", "d-model", "layers", "heads", "kv-pairs", "p",
                       "eval-batches", "jobs" } do
    if math.tointeger(o[k]) == nil or o[k] < 1 then die("--%s must be a positive integer", k) end
    o[k] = math.tointeger(o[k])
  end
  return o
end

local o = parse(arg)
if o.threads then lunet.set_num_threads(math.tointeger(o.threads) or die("--threads: an integer")) end

-- ---------------------------------------------------------------- the task

local function make_task(seed)
  local t = o.task
  local opts = { batch_size = o.batch, seed = seed }
  if t == "mqar" then
    opts.vocab_size, opts.seq_len = o.vocab or 32, o["seq-len"] or 32
    opts.num_kv_pairs = o["kv-pairs"]
  elseif t == "modadd" then
    opts.p = o.p
  else
    opts.vocab_size, opts.seq_len = o.vocab or 16, o["seq-len"] or 16
  end
  local ok, task = pcall(lunet.data[t], opts)
  if not ok then die("%s", task) end
  return task
end

-- ---------------------------------------------------------------- models

local d, H = o["d-model"], o.heads
if d % H ~= 0 then die("--d-model %d is not divisible by --heads %d", d, H) end
local head_dim = d // H
local function even(n) return math.max(2, n - n % 2) end

-- the per-variant options, all derived from the flags
local function attention_options(v)
  if v == "gqa" then
    return { group_size = o["group-size"] or math.max(1, H // 2) }
  elseif v == "mla" then
    return { down_dim = o["mla-down"] or math.max(1, d // 2), up_dim = o["mla-up"] or d,
             rope_head_dim = o["mla-rope"] or even(head_dim // 2) }
  elseif v == "gated" then
    return { latent_rank = o["latent-rank"] or math.max(1, head_dim // 2) }
  end
  return {}
end

local function make_model(v, task)
  local cfg = { vocab_size = task.vocab_size, d_model = d, n_layer = o.layers, num_heads = H,
                max_len = task.seq_len, attention = v, mlp_ratio = o["mlp-ratio"],
                tie_weights = not o.untied }
  for k, x in pairs(attention_options(v)) do cfg[k] = math.tointeger(x) or x end
  local ok, model = pcall(lunet.nn.TransformerLM, cfg)
  if not ok then die("%s: %s", v, model) end
  return model
end

-- forward FLOPs per token at the task's sequence length, and KV-cache
-- floats per token (all layers), as lunet.profile measures them
local function costs(model, S)
  local ok, profile = pcall(require, "lunet.profile")
  if ok and type(profile.count) == "function" then
    local r = profile.count(model, { 1, S }, { backward = false })
    return r.forward_flops / S, r.kv_cache and r.kv_cache.floats_per_token
  end
  -- without the profiler: 2 FLOPs per parameter per token (an approximation)
  local kv = 0
  for _, m in ipairs(model:modules()) do
    if type(m.kv_floats_per_token) == "function" then kv = kv + m:kv_floats_per_token() end
  end
  return 2 * model:num_parameters(), kv
end

-- ---------------------------------------------------------------- output

local function commas(n)
  if n == nil then return "--" end
  local s = string.format("%.0f", n)
  local sign, digits = s:match("^(-?)(%d+)$")
  if not digits then return s end
  return sign .. digits:reverse():gsub("(%d%d%d)", "%1,"):reverse():gsub("^,", "")
end

local function print_table(rows, acc_name)
  local head = { "variant", "params", "fwd FLOPs/tok", "KV floats/tok", "final loss",
                 acc_name, "tokens/s", "wall s" }
  local cells = { head }
  for _, r in ipairs(rows) do
    cells[#cells + 1] = { r.variant, commas(r.params), commas(r.flops), commas(r.kv),
                          string.format("%.4f", r.loss), string.format("%.3f", r.acc or 0 / 0),
                          commas(r.tps), string.format("%.1f", r.wall) }
  end
  local width = {}
  for _, row in ipairs(cells) do
    for j, c in ipairs(row) do width[j] = math.max(width[j] or 0, #c) end
  end
  local function line(row)
    local parts = {}
    for j, c in ipairs(row) do
      parts[j] = j == 1 and c .. string.rep(" ", width[j] - #c) or string.rep(" ", width[j] - #c) .. c
    end
    return table.concat(parts, "  ")
  end
  local rule = {}
  for j = 1, #head do rule[j] = string.rep("-", width[j]) end
  print(line(head))
  print(table.concat(rule, "  "))
  for i = 2, #cells do print(line(cells[i])) end
end

local function shell_quote(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

local function have(cmd)
  local ok = os.execute("command -v " .. cmd .. " >/dev/null 2>&1")
  return ok == true or ok == 0
end

-- a gnuplot script (saved beside the CSV, so it can be re-run) drawing
-- training loss and held-out accuracy against steps, one line per variant
local function plot(csv, png, gp, variants, title, acc_name)
  local ok = os.execute("gnuplot -e 'set terminal pngcairo' >/dev/null 2>&1")
  local term = (ok == true or ok == 0) and "pngcairo size 1200,480 font ',10'" or "png size 1200,480"
  local script = string.format([[
# gnuplot %s   (written by examples/compare_training.lua)
set terminal %s noenhanced
set output %q
set datafile separator ","
variants = %q
set multiplot layout 1,2 title %q
set xlabel "step"
set grid
set key bottom left
set title "training loss"
set logscale y
plot for [v in variants] %q using 1:(strcol(2) eq v ? $3 : NaN) with lines lw 2 title v
unset logscale y
set title "%s (held out)"
set yrange [0:1.05]
set key bottom right
plot for [v in variants] %q using 1:(strcol(2) eq v ? $6 : NaN) with lines lw 2 title v
unset multiplot
]], gp, term, png, table.concat(variants, " "), title, csv, acc_name, csv)
  local f = assert(io.open(gp, "w"))
  f:write(script)
  f:close()
  ok = os.execute("gnuplot " .. shell_quote(gp))
  return ok == true or ok == 0
end

-- ---------------------------------------------------------------- run

local probe = make_task(o.seed)
local S, steps = probe.seq_len, o.steps
local eval_every = math.tointeger(o["eval-every"]) or math.max(1, steps // 20)
local warmup = math.tointeger(o.warmup) or steps // 10
local acc_name = o.task == "mqar" and "recall acc" or "accuracy"

local desc
if o.task == "mqar" then
  desc = string.format("MQAR: vocab %d, seq_len %d, %d key-value pairs", probe.vocab_size, S,
                       probe.num_kv_pairs)
elseif o.task == "modadd" then
  desc = string.format("modadd: p %d", probe.p)
else
  desc = string.format("%s: vocab %d, seq_len %d", o.task, probe.vocab_size, S)
end
local model_desc = string.format("d_model %d, %d layers, %d heads, mlp_ratio %s", d, o.layers, H,
                                 tostring(o["mlp-ratio"]))
local train_desc = string.format("AdamW lr %g (warm-up %d, cosine), batch %d, %d steps, seed %d",
                                 o.lr, warmup, o.batch, steps, o.seed)
if not o.worker then
  print(desc)
  print(model_desc)
  print(train_desc)
end

os.execute("mkdir -p " .. shell_quote(o.out))

-- One variant, start to finish: its table row and its curve's CSV lines.
local function run_variant(v, show)
  local t0 = lunet._now()
  lunet.manual_seed(o.seed)
  local task = make_task(o.seed)
  local model = make_model(v, task)
  local params = model:num_parameters()
  local flops, kv = costs(model, S)
  local opt = lunet.optim.AdamW(model:parameters(), { lr = o.lr, weight_decay = o["weight-decay"] })
  local sched = lunet.optim.schedule.warmup_cosine { lr = o.lr, warmup = math.min(warmup, steps),
                                                     total = steps, min_lr = o.lr / 10 }
  if show then print(string.format("%s: %s parameters", v, commas(params))) end
  local hist = train {
    model = model, optimizer = opt, data = task, steps = steps, eval_every = eval_every,
    eval_batches = 2, schedule = sched, clip = o.clip > 0 and o.clip or nil, quiet = not show,
  }
  -- training throughput, without the time spent on the curves' evaluation
  local tokens, seconds, prev, curve = 0, 0, 0, {}
  for _, h in ipairs(hist) do
    local n = (h.step - prev) * o.batch * S
    tokens, prev = tokens + n, h.step
    if h.tokens_per_s then seconds = seconds + n / h.tokens_per_s end
    curve[#curve + 1] = string.format("%d,%s,%.6g,%.6g,%.6g,%.6g", h.step, v, h.loss,
                                      h.acc or 0 / 0, h.eval_loss, h.eval_acc or 0 / 0)
  end
  local loss, acc = train.evaluate(model, task, o["eval-batches"])
  local row = { variant = v, params = params, flops = flops, kv = kv, loss = loss, acc = acc,
                tps = seconds > 0 and tokens / seconds or nil, wall = lunet._now() - t0 }
  print(string.format("%-6s %s params: loss %.4f, %s %.3f, %.1f s", v, commas(params), loss,
                      acc_name, acc or 0 / 0, row.wall))
  io.stdout:flush()
  return row, curve
end

-- a worker's result file: the row's fields, then the curve
local FIELDS = { "variant", "params", "flops", "kv", "loss", "acc", "tps", "wall" }
local function result_path(v) return o.out .. "/.compare_training_" .. v .. ".txt" end

local function write_result(v, row, curve)
  local f = assert(io.open(result_path(v), "w"))
  local cells = {}
  for i, k in ipairs(FIELDS) do cells[i] = k == "variant" and row[k] or string.format("%.17g", row[k] or 0 / 0) end
  f:write(table.concat(cells, ","), "\n", table.concat(curve, "\n"), "\n")
  f:close()
end

local function read_result(v)
  local path = result_path(v)
  local f = io.open(path, "r")
  if not f then return nil end
  local first, curve = f:read("l"), {}
  for line in f:lines() do curve[#curve + 1] = line end
  f:close()
  os.remove(path)
  local row, i = {}, 0
  for cell in (first .. ","):gmatch("([^,]*),") do
    i = i + 1
    row[FIELDS[i]] = FIELDS[i] == "variant" and cell or tonumber(cell)
  end
  for k, x in pairs(row) do if x ~= x then row[k] = nil end end
  return row, curve
end

-- the interpreter running this script (arg's lowest index, as lua.c sets it)
local function interpreter()
  local i = -1
  while arg[i - 1] ~= nil do i = i - 1 end
  return arg[i]
end

if o.worker then                      -- one variant for a parent process
  write_result(o.worker, run_variant(o.worker, false))
  os.exit(0)
end

local jobs = math.min(o.jobs, #o.variant_list)
local rows, curves, t_all = {}, {}, lunet._now()
if jobs <= 1 then
  local show = train.is_terminal()
  for i, v in ipairs(o.variant_list) do
    rows[i], curves[i] = run_variant(v, show)
    collectgarbage()
  end
else
  -- each variant in its own process, `jobs` at a time, one BLAS thread
  -- each: at these sizes two single-threaded runs get far more done than
  -- one run on two threads, and every variant is timed alike
  print(string.format("training %d variants, %d at a time (--jobs), one thread each",
                      #o.variant_list, jobs))
  io.stdout:flush()
  local args = {}
  for _, a in ipairs(arg) do args[#args + 1] = shell_quote(a) end
  local cmd = string.format("printf '%%s\\n' %s | xargs -P %d -n 1 %s %s %s --threads 1 --worker",
                            table.concat(o.variant_list, " "), jobs, shell_quote(interpreter()),
                            shell_quote(arg[0]), table.concat(args, " "))
  local ok = os.execute(cmd)
  for i, v in ipairs(o.variant_list) do
    rows[i], curves[i] = read_result(v)
    if not rows[i] then die("the run of %s failed%s", v, ok and "" or " (see above)") end
  end
end

local csv_path = o.out .. "/compare_training.csv"
local csv = io.open(csv_path, "w")
if not csv then die("cannot write %s", csv_path) end
csv:write("step,variant,loss,acc,eval_loss,eval_acc\n")
for _, curve in ipairs(curves) do
  for _, line in ipairs(curve) do csv:write(line, "\n") end
end
csv:close()

print()
print_table(rows, acc_name)
print(string.format("\nFLOPs per token: one forward pass at seq_len %d (lunet.profile.count); "
                    .. "KV floats per token: all %d layers.", S, o.layers))
print(string.format("%s on %d held-out sequences; total %.1f s.", acc_name,
                    o["eval-batches"] * o.batch, lunet._now() - t_all))
print("curves: " .. csv_path)
if o["no-plot"] then
  -- nothing more
elseif not have("gnuplot") then
  print("plot:   skipped (gnuplot not found; Debian package gnuplot-nox)")
else
  local png, gp = o.out .. "/compare_training.png", o.out .. "/compare_training.gp"
  local title = desc .. "; " .. model_desc .. "; " .. steps .. " steps"
  if plot(csv_path, png, gp, o.variant_list, title, acc_name) then
    print("plot:   " .. png)
  else
    print("plot:   gnuplot failed (script: " .. gp .. ")")
  end
end
