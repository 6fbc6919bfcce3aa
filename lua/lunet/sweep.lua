--[[
lunet.sweep: train every attention variant over a grid of learning rates
and seeds, pick each variant's best learning rate on held-out data, and
report the spread over seeds.

  local sweep = require "lunet.sweep"
  local summary, rows = sweep.run {
    task = { name = "mqar", vocab_size = 32, seq_len = 32, num_kv_pairs = 4, batch_size = 32 },
    model = { d_model = 64, n_layer = 2, num_heads = 4, mlp_ratio = 2 },
    variants = { "mha", "mqa", "gqa", "mla", "gated" },
    lrs = { 1e-3, 3e-3, 1e-2 }, seeds = { 1, 2, 3 }, steps = 600, jobs = 2,
  }
  print(sweep.format(summary))

The spec (plain data: it is copied to worker processes):
  task            lunet.data.make's name and options (seed: the point's)
  model           TransformerLM options (vocab_size and max_len come from
                  the task; attention from the point); variant_options =
                  {mla = {...}} adds per-variant ones
  variants, lrs, seeds       the grid (points: every combination)
  steps, warmup (steps/10), min_lr (lr/10), weight_decay (0.01), clip (1)
                  AdamW with linear warm-up and cosine decay
  eval_every      steps between points of the curves (steps/20)
  val_batches     held-out batches data:eval_batch(1..n) scored at every
                  curve point: the learning rate is picked on these (4)
  test_batches    further held-out batches, after the validation ones,
                  scored once at the end: the reported numbers (8)
  target_acc      steps-to-target: the first curve point whose validation
                  accuracy reaches it (0.9)
  jobs            grid points trained at once, each in its own process (1)
  threads         lunet threads per point (1)
  runner          the name of a module whose run_point(spec, point) trains
                  a point (default: this module's)
  quiet           no progress lines

Under mpirun (`mpirun -np 4 lunet sweep.lua`), map spreads the points over
the ranks of lunet.distributed instead (jobs is then unused): each rank
trains its share in its own process with `threads` threads, and the rows,
plain tables, are gathered to every rank, in the grid's order, so the
summary is the same as one process's.  Only rank 0 prints the header.

The runner, in pieces:
  sweep.points(spec) -> {{index, variant, lr, seed}, ...}
  sweep.run_point(spec, point) -> row: {variant, lr, seed, params, kv,
      curve = {{step, loss, acc, val_loss, val_acc}, ...}, test_loss,
      test_acc, wall}
  sweep.map(spec, points [, on_row]) -> rows, in the points' order: runs
      them `jobs` at a time in separate processes (or in this one when
      jobs is 1; or over the MPI ranks, see above), calling
      on_row(row, done, total) as each finishes
  sweep.summarise(rows [, target_acc]) -> summary
  sweep.run(spec) -> summary, rows       (map with progress, then summarise)
  sweep.write_csv(path, rows) / sweep.read_csv(path) -> rows: one CSV line
      per (variant, lr, seed, step); summarise(read_csv(path)) gives the
      summary again
  sweep.format(summary) -> the table as text

The summary has one entry per variant, in the grid's order:
  {variant, best_lr, lrs = {{lr, val_loss (mean over seeds), reached
   (seeds that reached the target at that lr), runs}, ...},
   params, kv, seeds, test_acc = {mean, std, min, max},
   test_loss = {...}, steps_to_target = {per seed: a step or false},
   reached (seeds that reached the target)}
The best learning rate is the one with the lowest mean final validation
loss over the seeds; the reported numbers are on the test batches, which
the choice never saw.
]]
local lunet = require "lunet"
local util = require "lunet.util"

local sweep = {}

local SPEC = {
  "task", "model", "variant_options", "variants", "lrs", "seeds", "steps", "warmup", "min_lr",
  "weight_decay", "clip", "eval_every", "val_batches", "test_batches", "target_acc", "jobs",
  "threads", "runner", "quiet", "program",
}

local function fail(fmt, ...) util.fail("sweep", fmt, ...) end

-- the spec with its defaults, checked
local function settle(spec)
  if type(spec) ~= "table" then fail("expected a spec table, got %s", type(spec)) end
  util.check_options("sweep", spec, SPEC)
  local s = {}
  for k, v in pairs(spec) do s[k] = v end
  for _, k in ipairs { "variants", "lrs", "seeds" } do
    if type(s[k]) ~= "table" or #s[k] == 0 then fail("%s must be a non-empty list", k) end
  end
  if math.type(s.steps) ~= "integer" or s.steps < 1 then
    fail("steps must be a positive integer, got %s", tostring(s.steps))
  end
  s.val_batches = s.val_batches or 4
  s.test_batches = s.test_batches or 8
  s.target_acc = s.target_acc or 0.9
  s.eval_every = s.eval_every or math.max(1, s.steps // 20)
  s.jobs = s.jobs or 1
  s.threads = s.threads or 1
  return s
end

-- ---------------------------------------------------------------- points

-- sweep.points(spec) -> {{index, variant, lr, seed}, ...}: the grid, every combination
function sweep.points(spec)
  spec = settle(spec)
  local points = {}
  for _, v in ipairs(spec.variants) do
    for _, lr in ipairs(spec.lrs) do
      for _, seed in ipairs(spec.seeds) do
        points[#points + 1] = { index = #points + 1, variant = v, lr = lr, seed = seed }
      end
    end
  end
  return points
end

-- a view of task whose eval_batch(k) is the task's eval_batch(k + offset):
-- the test batches, after the validation ones
local function shifted(task, offset)
  return { eval_batch = function(_, k) return task:eval_batch(k + offset) end }
end

-- The default trainer of one point: a TransformerLM with the point's
-- attention on the spec's task, AdamW with warm-up and cosine decay.
function sweep.run_point(spec, point)
  spec = settle(spec)
  local train = require "lunet.train"
  local t0 = lunet._now()
  lunet.set_num_threads(spec.threads)
  lunet.manual_seed(point.seed)
  local topts = {}
  for k, v in pairs(spec.task or {}) do if k ~= "name" then topts[k] = v end end
  topts.seed = point.seed
  local task = lunet.data.make(spec.task and spec.task.name or "mqar", topts)
  local mopts = { vocab_size = task.vocab_size, max_len = task.seq_len, attention = point.variant }
  for k, v in pairs(spec.model or {}) do mopts[k] = v end
  for k, v in pairs(spec.variant_options and spec.variant_options[point.variant] or {}) do mopts[k] = v end
  local model = lunet.nn.TransformerLM(mopts)
  local lr, steps = point.lr, spec.steps
  local opt = lunet.optim.AdamW(model:parameters(), { lr = lr, weight_decay = spec.weight_decay or 0.01 })
  local sched = lunet.optim.schedule.warmup_cosine {
    lr = lr, warmup = math.min(spec.warmup or steps // 10, steps), total = steps,
    min_lr = spec.min_lr or lr / 10,
  }
  local hist = train {
    model = model, optimizer = opt, data = task, steps = steps, eval_every = spec.eval_every,
    eval_batches = spec.val_batches, schedule = sched, clip = spec.clip or 1.0, quiet = true,
  }
  local curve = {}
  for i, h in ipairs(hist) do
    curve[i] = { step = h.step, loss = h.loss, acc = h.acc, val_loss = h.eval_loss, val_acc = h.eval_acc }
  end
  local test_loss, test_acc = train.evaluate(model, shifted(task, spec.val_batches), spec.test_batches)
  return {
    variant = point.variant, lr = lr, seed = point.seed, params = model:num_parameters(),
    kv = model:new_cache():floats_per_token(), curve = curve, test_loss = test_loss,
    test_acc = test_acc, wall = lunet._now() - t0,
  }
end

-- ---------------------------------------------------------------- serialising

-- specs, points and rows cross to the worker processes as Lua text
local function serialize(v)
  return util.serialize(v, "sweep", "a worker process (the spec must be plain data)")
end
sweep.serialize = serialize

local function deserialize(text) return util.deserialize(text, "sweep") end

-- through a temporary of its own (Lua 5.4 seeds math.random per process,
-- the table's address differs per call), so two writers of one path never
-- write into the same temporary; the rename replaces the file whole
local function write_file(path, text)
  local tmp = string.format("%s.%08x%s.tmp", path, math.random(0, 0x7fffffff),
                            tostring({}):match("0x(%x+)") or "")
  local f, err = io.open(tmp, "w")
  if not f then fail("cannot write %s", tostring(err)) end   -- err names the path
  local ok, werr = f:write(text)
  f:close()
  if not ok then os.remove(tmp); fail("cannot write %s: %s", tmp, tostring(werr)) end
  local moved, rerr = os.rename(tmp, path)
  if not moved then os.remove(tmp); fail("cannot write %s", tostring(rerr)) end
end

local read_file = util.read_file

-- ---------------------------------------------------------------- workers

-- the runner module's run_point
local function runner(spec)
  if spec.runner == nil then return sweep.run_point end
  local m = require(spec.runner)
  return m.run_point
end

-- In a worker process: run the job file's point, write the row beside it,
-- and say so on stdout (the driver reads these lines as progress).
-- Its warnings and, if it fails, its error with the traceback go into
-- the result for the driver to report (the process boundary is where a
-- worker's error is caught, as lua.c catches a script's).
function sweep.worker(job_path)
  local job = deserialize(assert(read_file(job_path)))
  local warnings = {}
  util.warning_sink = function(msg) warnings[#warnings + 1] = msg end
  local ok, row = xpcall(runner(job.spec), debug.traceback, job.spec, job.point)
  if not ok then row = { error = tostring(row) } end
  row.warnings = #warnings > 0 and warnings or nil
  write_file(job.out, serialize(row))
  io.stdout:write("done ", job.point.index, "\n")
  io.stdout:flush()
end

local function shell_quote(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

-- the program to run workers with: spec.program, $LUNET_PROGRAM, the
-- interpreter running this script, or `lunet`
local function program(spec)
  if spec.program then return spec.program end
  local env = os.getenv("LUNET_PROGRAM")
  if env and env ~= "" then return env end
  if type(arg) == "table" then
    local i = 0
    while arg[i - 1] ~= nil do i = i - 1 end
    if i < 0 then return arg[i] end
  end
  return "lunet"
end

local function map_processes(spec, points, on_row)
  local base = os.tmpname()
  local files, rows, byindex = {}, {}, {}
  for i, p in ipairs(points) do
    local job = base .. "." .. i .. ".job"
    write_file(job, serialize { spec = spec, point = p, out = base .. "." .. i .. ".row" })
    files[#files + 1] = shell_quote(job)
    byindex[p.index] = i
  end
  -- each worker: the program with -e code naming its job file (xargs puts it for {})
  local code = string.format("package.path=%q package.cpath=%q require('lunet.sweep').worker('{}')",
                             package.path, package.cpath)
  local cmd = string.format("printf '%%s\\n' %s | xargs -P %d -I{} %s -e %s", table.concat(files, " "),
                            spec.jobs, shell_quote(program(spec)), shell_quote(code))
  local pipe = assert(io.popen(cmd, "r"))
  local done, errors = 0, {}
  for line in pipe:lines() do
    local index = tonumber(line:match("^done (%d+)$"))
    local i = index and byindex[index]
    local text = i and read_file(base .. "." .. i .. ".row")
    if text then
      local row = deserialize(text)
      for _, w in ipairs(row.warnings or {}) do util.warn(w) end   -- once each, not once per worker
      row.warnings = nil
      if row.error then
        errors[i] = row.error
      else
        rows[i] = row
        done = done + 1
        if on_row then on_row(row, done, #points) end
      end
    else
      io.stdout:write(line, "\n")
    end
  end
  pipe:close()
  for i = 1, #points do
    os.remove(base .. "." .. i .. ".job")
    os.remove(base .. "." .. i .. ".row")
  end
  os.remove(base)
  for i, p in ipairs(points) do
    if rows[i] == nil then
      fail("the run of point %d (%s, lr %g, seed %s) failed: %s", p.index, p.variant, p.lr,
           tostring(p.seed), errors[i] or "its worker did not finish (see above)")
    end
  end
  return rows
end

-- Under mpirun (lunet.distributed on several ranks): rank r trains the
-- points r+1, r+1+N, ... in its own process, one at a time, and every
-- rank gets all the rows back in the points' order.  on_row sees a rank's
-- own points (done and total of its share).
local function map_ranks(spec, points, on_row)
  local dist = require "lunet.distributed"
  local rank, size = dist.rank(), dist.world_size()
  local run_point, mine, share = runner(spec), {}, 0
  for _ = rank + 1, #points, size do share = share + 1 end
  for i = rank + 1, #points, size do
    local row = run_point(spec, points[i])
    collectgarbage()
    mine[#mine + 1] = { i, row }
    if on_row then on_row(row, #mine, share) end
  end
  local rows = {}
  for _, list in ipairs(dist.all_gather(mine)) do
    for _, e in ipairs(list) do rows[e[1]] = e[2] end
  end
  return rows
end

-- sweep.map(spec, points [, on_row]) -> rows in the points' order: trains them
-- `jobs` at a time in separate processes (over the ranks under mpirun, above),
-- on_row(row, done, total) as each ends
function sweep.map(spec, points, on_row)
  spec = settle(spec)
  local dist = require "lunet.distributed"
  dist.init()
  if dist.world_size() > 1 then return map_ranks(spec, points, on_row) end
  if spec.jobs <= 1 or #points <= 1 then
    local run_point, rows = runner(spec), {}
    for i, p in ipairs(points) do
      rows[i] = run_point(spec, p)
      collectgarbage()
      if on_row then on_row(rows[i], i, #points) end
    end
    return rows
  end
  return map_processes(spec, points, on_row)
end

-- ---------------------------------------------------------------- summary

-- sweep.stats(list) -> {mean, std (the sample standard deviation), min, max, n}
local function stats(list)
  local n, sum, lo, hi = #list, 0, math.huge, -math.huge
  for _, x in ipairs(list) do
    sum, lo, hi = sum + x, math.min(lo, x), math.max(hi, x)
  end
  local mean, ss = sum / n, 0
  for _, x in ipairs(list) do ss = ss + (x - mean) ^ 2 end
  return { mean = mean, std = n > 1 and math.sqrt(ss / (n - 1)) or 0, min = lo, max = hi, n = n }
end
sweep.stats = stats

-- the first curve step whose validation accuracy reaches target, or false
local function steps_to(row, target)
  for _, c in ipairs(row.curve) do
    if c.val_acc and c.val_acc >= target then return c.step end
  end
  return false
end

-- sweep.summarise(rows [, target_acc=0.9]) -> summary: per variant its best lr
-- and the test numbers over seeds (see the top of this file)
function sweep.summarise(rows, target_acc)
  target_acc = target_acc or 0.9
  local order, by = {}, {}
  for _, r in ipairs(rows) do
    if not by[r.variant] then by[r.variant] = {}; order[#order + 1] = r.variant end
    local lrs = by[r.variant]
    if not lrs[r.lr] then lrs[r.lr] = {}; lrs[#lrs + 1] = r.lr end
    table.insert(lrs[r.lr], r)
  end
  local summary = { target_acc = target_acc }
  for _, v in ipairs(order) do
    local lrs, best, best_loss, per_lr = by[v], nil, math.huge, {}
    table.sort(lrs)
    for _, lr in ipairs(lrs) do
      local losses, hits = {}, 0
      for _, r in ipairs(lrs[lr]) do
        losses[#losses + 1] = r.curve[#r.curve].val_loss
        if steps_to(r, target_acc) then hits = hits + 1 end
      end
      local m = stats(losses).mean
      per_lr[#per_lr + 1] = { lr = lr, val_loss = m, reached = hits, runs = #losses }
      if m < best_loss or (m ~= m and best == nil) then best, best_loss = lr, m end
    end
    best = best or lrs[1]
    local runs = lrs[best]
    table.sort(runs, function(a, b) return a.seed < b.seed end)
    local accs, losses, steps, seeds, reached = {}, {}, {}, {}, 0
    for i, r in ipairs(runs) do
      accs[i], losses[i], seeds[i] = r.test_acc, r.test_loss, r.seed
      steps[i] = steps_to(r, target_acc)
      if steps[i] then reached = reached + 1 end
    end
    summary[#summary + 1] = {
      variant = v, best_lr = best, lrs = per_lr, params = runs[1].params, kv = runs[1].kv,
      seeds = seeds, test_acc = stats(accs), test_loss = stats(losses), steps_to_target = steps,
      reached = reached,
    }
  end
  return summary
end

--[[
sweep.format(summary [, {markdown = true}]) -> text: per variant its best
lr, parameters, KV floats per token (all layers), test accuracy and loss
as mean +- std over the seeds with the min-max range, and the steps to
the target accuracy per seed ("-" for a seed that did not reach it).
]]
function sweep.format(summary, opts)
  local cells = { { "variant", "best lr", "params", "KV/tok", "test acc mean+-std", "[min, max]",
                    "test loss", "steps to " .. summary.target_acc .. " (per seed)" } }
  for _, s in ipairs(summary) do
    local steps = {}
    for i, st in ipairs(s.steps_to_target) do steps[i] = st and tostring(st) or "-" end
    cells[#cells + 1] = {
      s.variant, string.format("%g", s.best_lr), util.commas(s.params), util.commas(s.kv),
      string.format("%.3f +- %.3f", s.test_acc.mean, s.test_acc.std),
      string.format("[%.3f, %.3f]", s.test_acc.min, s.test_acc.max),
      string.format("%.3f +- %.3f", s.test_loss.mean, s.test_loss.std),
      string.format("%d/%d: %s", s.reached, #s.steps_to_target, table.concat(steps, " ")),
    }
  end
  return util.text_table(cells, { left = 1, rule = true, markdown = opts and opts.markdown })
end

-- ---------------------------------------------------------------- CSV

local COLUMNS = { "variant", "lr", "seed", "step", "loss", "acc", "val_loss", "val_acc",
                  "test_loss", "test_acc", "params", "kv" }
sweep.COLUMNS = COLUMNS

local cell = util.csv_cell

-- one line per (variant, lr, seed, step); the test numbers on each run's
-- last step only
function sweep.write_csv(path, rows)
  local f, err = io.open(path, "w")
  if not f then fail("cannot write %s", tostring(err)) end   -- err names the path
  f:write(table.concat(COLUMNS, ","), "\n")
  for _, r in ipairs(rows) do
    for i, c in ipairs(r.curve) do
      local last = i == #r.curve
      local line = { r.variant, r.lr, r.seed, c.step, c.loss, c.acc, c.val_loss, c.val_acc,
                     last and r.test_loss or nil, last and r.test_acc or nil, r.params, r.kv }
      for j = 1, #COLUMNS do line[j] = cell(line[j]) end
      f:write(table.concat(line, ","), "\n")
    end
  end
  f:close()
end

-- sweep.read_csv(path) -> rows, as write_csv wrote them
function sweep.read_csv(path)
  local f, err = io.open(path, "r")
  if not f then fail("cannot read %s", tostring(err)) end   -- err names the path
  local header, rows, current = f:read("l"), {}, nil
  if header ~= table.concat(COLUMNS, ",") then fail("%s: not a sweep CSV (header %s)", path, tostring(header)) end
  for line in f:lines() do
    local v = {}
    for x in (line .. ","):gmatch("([^,]*),") do v[#v + 1] = x end
    local rec = {}
    for j, k in ipairs(COLUMNS) do
      rec[k] = (k == "variant") and v[j] or (v[j] ~= "" and math.tointeger(tonumber(v[j])) or tonumber(v[j]))
    end
    if not (current and current.variant == rec.variant and current.lr == rec.lr and current.seed == rec.seed) then
      current = { variant = rec.variant, lr = rec.lr, seed = rec.seed, params = rec.params, kv = rec.kv,
                  curve = {} }
      rows[#rows + 1] = current
    end
    current.curve[#current.curve + 1] = { step = rec.step, loss = rec.loss, acc = rec.acc,
                                          val_loss = rec.val_loss, val_acc = rec.val_acc }
    if rec.test_acc then current.test_loss, current.test_acc = rec.test_loss, rec.test_acc end
  end
  f:close()
  return rows
end

-- ---------------------------------------------------------------- run

-- sweep.run(spec) -> summary, rows: map with a progress line per point, then summarise
function sweep.run(spec)
  spec = settle(spec)
  local points = sweep.points(spec)
  local t0 = lunet._now()
  local out = io.stdout
  local dist = require "lunet.distributed"
  local rank, ranks = dist.init()
  local who = ranks > 1 and string.format("rank %d ", rank) or ""   -- whose progress line
  if not spec.quiet and rank == 0 then
    out:write(string.format("sweep: %d runs (%d variants x %d learning rates x %d seeds), %s\n",
                            #points, #spec.variants, #spec.lrs, #spec.seeds,
                            ranks > 1 and string.format("spread over %d ranks", ranks)
                              or string.format("%d at a time", spec.jobs)))
    out:flush()
  end
  local rows = sweep.map(spec, points, function(row, done, total)
    if spec.quiet then return end
    local elapsed = lunet._now() - t0
    local eta = elapsed * (total - done) / done
    out:write(string.format("%s[%d/%d] %-5s lr %-7g seed %-3s test acc %.3f  loss %.3f  (%.0f s; ETA %s)\n",
                            who, done, total, row.variant, row.lr, tostring(row.seed), row.test_acc or 0 / 0,
                            row.test_loss, row.wall, require("lunet.train").clock_str(eta)))
    out:flush()
  end)
  return sweep.summarise(rows, spec.target_acc), rows
end

return sweep
