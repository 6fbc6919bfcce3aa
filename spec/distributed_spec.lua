-- lunet.distributed: the single-process fallback, task sharding and the
-- DDP wrapper in this process; then, under mpirun (when it and the MPI
-- module are there), the collectives, the equality of 2 ranks with one
-- process, lunet.train with one progress output and one log, resuming,
-- faults, and a sweep spread over ranks.  The scripts mpirun runs are in
-- spec/dist/.
local lu = require "luaunit"
local lunet = require "lunet"
local H = require "helpers"
local dist = require "lunet.distributed"
local util = require "lunet.util"
local autograd = require "lunet.autograd"

local PROG = os.getenv("LUNET_PROGRAM")
local TMP = "tmp/dist"

-- ---------------------------------------------------------------- one process

TestDistributedAlone = {}

function TestDistributedAlone:test_init_is_rank_0_of_1()
  local r, n = dist.init()
  lu.assertEquals({ r, n }, { 0, 1 })
  lu.assertEquals({ dist.rank(), dist.world_size(), dist.backend() }, { 0, 1, "local" })
  lu.assertTrue(dist.is_initialized())
  lu.assertIs(lunet.distributed, dist)
  lu.assertEquals({ dist.init() }, { 0, 1 })   -- again: the same
  dist.barrier()
end

function TestDistributedAlone:test_collectives_leave_one_process_values()
  dist.init()
  for _, op in ipairs { "sum", "mean", "max", "min" } do
    local t = lunet.tensor { 1.5, -2, 3 }
    lu.assertIs(dist.all_reduce(t, op), t)
    H.assert_close(t, { 1.5, -2, 3 }, 0)
  end
  local a, b = lunet.ones { 2, 2 }, lunet.full({ 3 }, 4)
  dist.all_reduce({ a, b }, "mean")
  H.assert_close(b, { 4, 4, 4 }, 0)
  local ids = lunet.tensor({ 5, 6 }, { dtype = "int64" })
  dist.broadcast(ids, 0)
  lu.assertEquals(ids:totable(), { 5, 6 })
  local v = { n = 3, f = 0.1, s = "x\n\"y", inf = -1 / 0, nan = 0 / 0, t = { true, false, { 7 } } }
  local all = dist.all_gather(v)
  lu.assertEquals(#all, 1)
  local w = all[1]
  lu.assertNotIs(w, v)             -- a copy, as another rank's would be
  lu.assertEquals(math.type(w.n), "integer")
  lu.assertEquals({ w.n, w.f, w.s, w.inf, w.t }, { v.n, v.f, v.s, v.inf, v.t })
  lu.assertTrue(w.nan ~= w.nan)
  lu.assertEquals(dist.gather("mine"), { "mine" })
  lu.assertEquals(dist.broadcast_object({ 1, "two" }), { 1, "two" })
end

function TestDistributedAlone:test_bad_arguments_are_errors_at_the_callers_line()
  dist.init()
  local ok, err = pcall(function() dist.all_reduce(lunet.ones { 2 }, "avg") end)
  lu.assertFalse(ok)
  lu.assertStrContains(err, "distributed_spec.lua:")
  H.raises("dist.all_reduce: op must be 'max', 'mean', 'min' or 'sum', got avg",
           dist.all_reduce, lunet.ones { 2 }, "avg")
  H.raises("dist.all_reduce: the tensor must be float32, got int64", dist.all_reduce, lunet.ones { 2 }:long())
  H.raises("dist.all_reduce: the tensor must be contiguous", dist.all_reduce, lunet.ones { 2, 3 }:t())
  H.raises("dist.all_reduce: tensor 2 of the list must be a tensor, got number", dist.all_reduce,
           { lunet.ones { 2 }, 3 })
  H.raises("dist.all_reduce: expected a tensor or a list of tensors, got table", dist.all_reduce, {})
  H.raises("dist.broadcast: root must be a rank from 0 to 0 (ranks are 0-based), got 1", dist.broadcast,
           lunet.ones { 2 }, 1)
  H.raises("dist.all_gather: cannot pass a function to another rank", dist.all_gather, { f = print })
  H.raises("dist.gather: cannot pass a userdata to another rank", dist.gather, lunet.ones { 1 })
end

function TestDistributedAlone:test_before_init_and_without_the_module()
  lu.skipIf(PROG == nil, "LUNET_PROGRAM not set (run through make test)")
  local out = H.sh(string.format("%s -e %s 2>&1", H.q(PROG),
    H.q([[print(pcall(lunet.distributed.rank))]])))
  lu.assertStrContains(out, "dist.rank: call dist.init() first")
  -- started by mpirun (as its environment says) with no MPI module: said, not N copies of one job
  out = H.sh(string.format("OMPI_COMM_WORLD_SIZE=2 %s -e %s 2>&1", H.q(PROG),
    H.q([[package.cpath = "" print(lunet.distributed.is_available(), pcall(lunet.distributed.init))]])))
  lu.assertStrContains(out, "false\tfalse")
  lu.assertStrContains(out, "dist.init: started by mpirun (2 ranks) but the MPI module lunet.mpi cannot be loaded")
end

-- ---------------------------------------------------------------- sharding

TestShard = {}

local function rows(t) return t:totable() end

function TestShard:test_ranks_rows_make_one_process_batch()
  local tasks = {
    function() return lunet.data.mqar { vocab_size = 16, seq_len = 16, num_kv_pairs = 2, batch_size = 6, seed = 4 } end,
    function() return lunet.data.copy { vocab_size = 8, seq_len = 8, batch_size = 6, seed = 2 } end,
    function() return lunet.data.char_lm { text = "the quick brown fox jumps over the lazy dog", seq_len = 8,
                                           batch_size = 6, split = 1 } end,
  }
  for _, make in ipairs(tasks) do
    local whole = make()
    local parts = { make():shard(0, 3), make():shard(1, 3), make():shard(2, 3) }
    for k = 1, 3 do
      local x, y, m = whole:batch()
      local xs, ys, ms = {}, {}, {}
      for _, p in ipairs(parts) do
        local px, py, pm = p:batch()
        lu.assertEquals(px:size(1), 2)
        for _, r in ipairs(rows(px)) do xs[#xs + 1] = r end
        for _, r in ipairs(rows(py)) do ys[#ys + 1] = r end
        for _, r in ipairs(rows(pm)) do ms[#ms + 1] = r end
      end
      lu.assertEquals(xs, rows(x), whole.name .. " inputs of batch " .. k)
      lu.assertEquals(ys, rows(y), whole.name .. " targets of batch " .. k)
      lu.assertEquals(ms, rows(m), whole.name .. " mask of batch " .. k)
    end
    -- batch k of a rank is a function of k alone; evaluation is not split
    lu.assertEquals(rows(parts[2]:train_batch(2)), rows((make():shard(1, 3):train_batch(2))))
    lu.assertEquals(rows(parts[3]:eval_batch(1)), rows(whole:eval_batch(1)))
  end
end

function TestShard:test_bad_shards()
  local t = lunet.data.copy { batch_size = 6 }
  H.raises("data.copy: shard: batch_size 6 does not split over 4 ranks", t.shard, t, 0, 4)
  H.raises("data.copy: shard: rank must be an integer from 0 to 1 (ranks are 0-based), got 2", t.shard, t, 2, 2)
  H.raises("data.copy: shard: world_size must be an integer >= 1, got 0", t.shard, t, 0, 0)
  lu.assertEquals(t:shard(0, 1):batch():size(1), 6)
end

-- ---------------------------------------------------------------- DDP in one process

TestDDPAlone = {}

local function tiny(seed)
  lunet.manual_seed(seed or 1)
  return lunet.nn.TransformerLM { vocab_size = 16, d_model = 16, n_layer = 1, num_heads = 2, max_len = 16 }
end

function TestDDPAlone:test_wrapping_changes_nothing_alone()
  local task = lunet.data.mqar { vocab_size = 16, seq_len = 16, num_kv_pairs = 2, batch_size = 4 }
  local plain, wrapped = tiny(3), dist.DistributedDataParallel(tiny(3))
  local names = {}
  for name in plain:named_parameters() do names[#names + 1] = name end
  lu.assertEquals(H.param_names(wrapped), names)           -- no "module." prefix
  lu.assertEquals(util.flat(wrapped.module.wte.weight), util.flat(plain.wte.weight))
  local o1 = lunet.optim.AdamW(plain:parameters(), { lr = 1e-2 })
  local o2 = lunet.optim.AdamW(wrapped:parameters(), { lr = 1e-2 })
  for k = 1, 3 do
    local x, y = task:train_batch(k)
    for _, pair in ipairs { { plain, o1 }, { wrapped, o2 } } do
      local loss = lunet.cross_entropy(pair[1](x), y, { ignore_index = 0 })
      pair[2]:zero_grad(); loss:backward(); pair[2]:step()
    end
  end
  local sd1, sd2 = plain:state_dict(), wrapped:state_dict()
  for name, t in pairs(sd1) do lu.assertTrue(lunet.equal(t, sd2[name]), name) end
  -- and the state dict goes back into an unwrapped model
  tiny(9):load_state_dict(sd2)
end

function TestDDPAlone:test_buckets_hold_every_trainable_parameter_once_in_order()
  local m = tiny()
  m.wpe.weight:requires_grad(false)                       -- frozen: not reduced
  local one = dist.DistributedDataParallel(m)
  lu.assertEquals(#one.buckets, 1)
  local small = dist.DistributedDataParallel { m, bucket_cap_mb = 2048 / 2 ^ 20 }   -- 2 KiB
  lu.assertTrue(#small.buckets > 3)
  local seen = {}
  for _, b in ipairs(small.buckets) do
    local bytes = 0
    for _, p in ipairs(b.params) do seen[#seen + 1] = p; bytes = bytes + 4 * p:numel() end
    lu.assertTrue(bytes <= 2048 or #b.params == 1)
  end
  local want = {}
  for _, p in ipairs(m:parameters()) do if p:requires_grad() then want[#want + 1] = p end end
  lu.assertEquals(#seen, #want)
  for i = 1, #want do lu.assertIs(seen[i], want[i]) end
end

function TestDDPAlone:test_options_and_no_sync()
  H.raises("DistributedDataParallel: module must be a module, got number", dist.DistributedDataParallel, 3)
  H.raises("DistributedDataParallel: bucket_cap_mb must be a number > 0, got 0", dist.DistributedDataParallel,
           { tiny(), bucket_cap_mb = 0 })
  H.raises("DistributedDataParallel: unknown option 'bucket_cap' (did you mean 'bucket_cap_mb'?)",
           dist.DistributedDataParallel, { tiny(), bucket_cap = 1 })
  local ddp = dist.DDP(tiny())
  lu.assertTrue(ddp.sync)
  lu.assertEquals(ddp:no_sync(function(a) lu.assertFalse(ddp.sync); return a + 1 end, 1), 2)
  lu.assertTrue(ddp.sync)
  do
    local _ <close> = ddp:no_sync()
    lu.assertFalse(ddp.sync)
  end
  lu.assertTrue(ddp.sync)
end

function TestDDPAlone:test_backward_callbacks()
  local calls = 0
  local h = autograd.register_backward_callback(function() calls = calls + 1 end)
  local w = lunet.ones({ 3 }, { requires_grad = true })
  ;(w * 2):sum():backward()
  lu.assertEquals(calls, 1)
  lu.assertEquals(w.grad:totable(), { 2, 2, 2 })   -- the gradients were there first
  h:remove()
  ;(w * 2):sum():backward()
  lu.assertEquals(calls, 1)
  H.raises("autograd.register_backward_callback: expected a function, got nil",
           autograd.register_backward_callback, nil)
end

-- ---------------------------------------------------------------- under mpirun

-- why the mpirun specs cannot run here, or nil
local function mpi_missing()
  if PROG == nil then return "LUNET_PROGRAM not set (run through make test)" end
  local _, ok = H.sh("command -v mpirun >/dev/null 2>&1")
  if not ok then return "no mpirun (tools/deps.sh installs openmpi-bin)" end
  if not dist.is_available() then return "lunet.mpi (build/lunet/mpi.so) is not built: no mpicc" end
  return nil
end
local MISSING = mpi_missing()
if MISSING then io.stderr:write("distributed_spec: skipping the mpirun specs: ", MISSING, "\n") end

-- mpirun as the README gives it: as root too, more ranks than cores, and
-- every byte on this host (shared memory between ranks, the launcher on
-- loopback).  A timeout turns a hang into a failure.  Under the sanitizer
-- the ranks do not check leaks: Open MPI keeps allocations to exit in
-- components it has unloaded (whose stacks cannot be named, so not
-- suppressed); lunet's own code runs leak-checked in the specs above.
local function mpirun(np, script, args)
  local env = os.getenv("LUNET_SANITIZE") and "ASAN_OPTIONS=detect_leaks=0 " or ""
  local cmd = string.format("%stimeout 120 mpirun --allow-run-as-root --oversubscribe --mca btl self,vader "
    .. "--mca oob_tcp_if_include lo -np %d %s %s %s 2>&1", env, np, H.q(PROG), H.q(script), args or "")
  local out, ok, _, code = H.sh(cmd)
  return ok == true, out, code
end

local function run_alone(script, args)
  local out, ok = H.sh(string.format("%s %s %s 2>&1", H.q(PROG), H.q(script), args or ""))
  return ok == true, out
end

local function fresh_dir(name)
  local dir = TMP .. "/" .. name
  os.execute("rm -rf " .. H.q(dir) .. " && mkdir -p " .. H.q(dir))
  return dir
end

-- max over tensors of |a - b| / |b| (Frobenius norms)
local function worst_relative(a, b)
  local worst, where = 0, nil
  for name, t in pairs(b) do
    lu.assertNotNil(a[name], name)
    local d = ((a[name] - t):norm() / t:norm()):item()
    if d > worst then worst, where = d, name end
  end
  return worst, where
end

TestDistributedMPI = {}

function TestDistributedMPI:setUp()
  lu.skipIf(MISSING ~= nil, tostring(MISSING))
end

function TestDistributedMPI:test_collectives_on_2_and_3_ranks()
  for _, np in ipairs { 2, 3 } do
    local ok, out = mpirun(np, "dist/collectives.lua")
    lu.assertTrue(ok, out)
    for r = 0, np - 1 do
      lu.assertStrContains(out, string.format("collectives ok on rank %d of %d", r, np))
    end
  end
end

-- the test that matters: 2 ranks x batch 4 = 1 process x batch 8
function TestDistributedMPI:test_two_ranks_equal_one_process_after_50_adamw_steps()
  local dir = fresh_dir("equal")
  local ok, out = run_alone("dist/ddp_equal.lua", dir .. "/one.safetensors 50")
  lu.assertTrue(ok, out)
  ok, out = mpirun(2, "dist/ddp_equal.lua", dir .. "/two.safetensors 50")
  lu.assertTrue(ok, out)
  local one, two = lunet.load(dir .. "/one.safetensors"), lunet.load(dir .. "/two.safetensors")
  local other = lunet.load(dir .. "/two.safetensors.rank1")
  local worst, where = worst_relative(two, one)
  lu.assertTrue(worst <= 1e-5, string.format("2 ranks differ from 1 process by %.3g (relative) in %s", worst,
                                             tostring(where)))
  for name, t in pairs(two) do lu.assertTrue(lunet.equal(t, other[name]), "rank 1's " .. name) end
  -- and the 50 steps moved every parameter (but the frozen key biases) far more than that
  ok, out = run_alone("dist/ddp_equal.lua", dir .. "/init.safetensors 0")
  lu.assertTrue(ok, out)
  local init = lunet.load(dir .. "/init.safetensors")
  for name, t in pairs(one) do
    local moved = ((t - init[name]):norm() / init[name]:norm()):item()
    if not name:match("key%.bias$") then lu.assertTrue(moved > 1e-3, name .. " moved only " .. moved) end
  end
end

function TestDistributedMPI:test_train_prints_logs_and_saves_once_and_resumes()
  local alone, two, resumed = fresh_dir("train1"), fresh_dir("train2"), fresh_dir("train3")
  local ok, out = run_alone("dist/train.lua", alone .. " 10")
  lu.assertTrue(ok, out)
  ok, out = mpirun(2, "dist/train.lua", two .. " 10")
  lu.assertTrue(ok, out)
  -- one progress output: rows at steps 5 and 10, once each
  local lines = {}
  for l in out:gmatch("[^\n]+") do if l:match("^step") then lines[#lines + 1] = l end end
  lu.assertEquals(#lines, 2, out)
  lu.assertStrContains(lines[2], "step 10/10")
  -- one log and one checkpoint, rank 0's
  lu.assertNotNil(H.read_file(two .. "/log.rank0.csv"))
  lu.assertNil(H.read_file(two .. "/log.rank1.csv"))
  lu.assertNotNil(H.read_file(two .. "/ckpt.rank0.safetensors"))
  lu.assertNil(H.read_file(two .. "/ckpt.rank1.safetensors"))
  -- every rank has the job's history, which is one process's
  local h1 = util.deserialize(H.read_file(alone .. "/history.rank0"))
  local h2 = util.deserialize(H.read_file(two .. "/history.rank0"))
  lu.assertEquals(util.deserialize(H.read_file(two .. "/history.rank1")), h2)
  lu.assertEquals(#h2, 2)
  for i, row in ipairs(h1) do
    for _, k in ipairs { "loss", "acc", "eval_loss", "eval_acc", "lr", "step" } do
      lu.assertTrue(math.abs(row[k] - h2[i][k]) <= 1e-5 * math.max(1, math.abs(row[k])),
                    string.format("%s at row %d: %.9g alone, %.9g on 2 ranks", k, i, row[k], h2[i][k]))
    end
  end
  -- 5 steps, then 5 more resumed from rank 0's checkpoint on both ranks: the 10-step run
  ok, out = mpirun(2, "dist/train.lua", resumed .. " 5")
  lu.assertTrue(ok, out)
  ok, out = mpirun(2, "dist/train.lua", resumed .. " 5 resume")
  lu.assertTrue(ok, out)
  lu.assertStrContains(out, "step 10/10")
  for r = 0, 1 do
    local a = lunet.load(string.format("%s/params.rank%d.safetensors", resumed, r))
    local b = lunet.load(two .. "/params.rank0.safetensors")
    for name, t in pairs(b) do lu.assertTrue(lunet.equal(a[name], t), "resumed rank " .. r .. ": " .. name) end
  end
end

-- a failing rank ends every rank, non-zero, with its message, never a hang
function TestDistributedMPI:test_a_failing_rank_ends_every_rank()
  for _, case in ipairs { "raise", "exit" } do
    local ok, out, code = mpirun(2, "dist/faults.lua", case)
    lu.assertFalse(ok, case .. ": " .. out)
    lu.assertNotEquals(code, 124, case .. ": timed out (a hang): " .. out)
    lu.assertNil(out:find("faults " .. case .. " ok", 1, true), out)
    if case == "raise" then lu.assertStrContains(out, "faults.lua:12: rank 1 gives up on purpose") end
    lu.assertStrContains(out, "rank 1 of 2 exited with status " .. (case == "raise" and 1 or 3))
  end
  local ok, out = mpirun(2, "dist/faults.lua", "ok")
  lu.assertTrue(ok, out)
end

function TestDistributedMPI:test_parameter_shapes_that_differ_are_named_at_wrap_time()
  local ok, out, code = mpirun(2, "dist/faults.lua", "mismatch")
  lu.assertFalse(ok, out)
  lu.assertNotEquals(code, 124, "timed out: " .. out)
  lu.assertStrContains(out, "DistributedDataParallel: the replicas differ: parameter 'wte.weight' is {16,16} "
                            .. "on rank 0 but {16,8} on rank 1")
  lu.assertNil(out:find("faults mismatch ok", 1, true), out)
end

-- the demo's table, with the runs spread over 2 ranks, is the local one
function TestDistributedMPI:test_sweep_over_ranks_gives_the_local_table()
  local dir = fresh_dir("sweep")
  local script = "../examples/compare_training.lua"
  local ok, alone = run_alone(script, "--quick --no-plot --jobs 1 --out " .. dir .. "/one")
  lu.assertTrue(ok, alone)
  local ok2, two = mpirun(2, script, "--quick --no-plot --out " .. dir .. "/two")
  lu.assertTrue(ok2, two)
  local function table_of(text) return text:match("\n(variant .-)\ntotal") end
  lu.assertNotNil(table_of(alone), alone)
  lu.assertEquals(table_of(two), table_of(alone))
  lu.assertStrContains(two, "spread over 2 ranks")
  lu.assertEquals(H.read_file(dir .. "/two/compare_training.csv"), H.read_file(dir .. "/one/compare_training.csv"))
end
