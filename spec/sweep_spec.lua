-- lunet.sweep: the grid, the choice of each variant's learning rate on
-- held-out data, the spread over seeds, the CSV and the process runner.
local lu = require "luaunit"
local lunet = require "lunet"
local H = require "helpers"
local sweep = require "lunet.sweep"

TestSweep = {}

local function fake_spec(jobs)
  return { runner = "fake_sweep_runner", variants = { "a", "b" }, lrs = { 1e-4, 1e-3, 1e-2 },
           seeds = { 1, 2, 3 }, steps = 100, jobs = jobs, quiet = true }
end

local function check_summary(s)
  lu.assertEquals(#s, 2)
  local a, b = s[1], s[2]
  lu.assertEquals(a.variant, "a")
  lu.assertEquals(a.best_lr, 1e-3)          -- held-out loss; training loss would pick 1e-2
  lu.assertEquals(b.best_lr, 1e-2)
  H.assert_close(b.test_acc.mean, 0.7, 1e-12)
  H.assert_close(b.test_acc.std, 0.1, 1e-12)
  H.assert_close(b.test_acc.min, 0.6, 1e-12)
  H.assert_close(b.test_acc.max, 0.8, 1e-12)
  lu.assertEquals(b.steps_to_target, { 20, 40, 60 })
  lu.assertEquals(b.reached, 3)
  lu.assertEquals(a.steps_to_target, { 20, 40, false })
  lu.assertEquals(a.reached, 2)
  lu.assertEquals(#a.lrs, 3)
  -- per learning rate: the mean validation loss and the seeds at the target
  lu.assertEquals(a.lrs[2].lr, 1e-3)
  lu.assertEquals({ a.lrs[1].reached, a.lrs[2].reached, a.lrs[3].reached }, { 0, 2, 0 })
  lu.assertEquals({ b.lrs[1].reached, b.lrs[2].reached, b.lrs[3].reached }, { 0, 0, 3 })
  lu.assertEquals(b.lrs[3].runs, 3)
  H.assert_close(b.lrs[3].val_loss, 1.02, 1e-12)
  lu.assertEquals(a.seeds, { 1, 2, 3 })
end

function TestSweep:test_points_cover_the_grid()
  local pts = sweep.points(fake_spec())
  lu.assertEquals(#pts, 18)
  lu.assertEquals(pts[1], { index = 1, variant = "a", lr = 1e-4, seed = 1 })
  lu.assertEquals(pts[18], { index = 18, variant = "b", lr = 1e-2, seed = 3 })
end

function TestSweep:test_best_lr_is_picked_on_held_out_data()
  local summary = sweep.run(fake_spec(1))
  check_summary(summary)
  local text = sweep.format(summary)
  lu.assertStrContains(text, "0.700 +- 0.100")
  lu.assertStrContains(text, "[0.600, 0.800]")
  lu.assertStrContains(text, "2/3: 20 40 -")
end

function TestSweep:test_worker_processes_give_the_same_rows()
  local spec = fake_spec(2)
  local rows = sweep.map(spec, sweep.points(spec))
  local local_rows = sweep.map(fake_spec(1), sweep.points(spec))
  lu.assertEquals(#rows, 18)
  lu.assertEquals(rows, local_rows)            -- in the points' order, numbers exact
  check_summary(sweep.summarise(rows))
end

function TestSweep:test_csv_reproduces_the_summary()
  local spec = fake_spec(1)
  local rows = sweep.map(spec, sweep.points(spec))
  os.execute("mkdir -p tmp")
  sweep.write_csv("tmp/sweep.csv", rows)
  local f = io.open("tmp/sweep.csv")
  local n = 0
  for _ in f:lines() do n = n + 1 end
  f:close()
  lu.assertEquals(n, 1 + 18 * 10)              -- one line per (variant, lr, seed, step)
  local back = sweep.read_csv("tmp/sweep.csv")
  lu.assertEquals(#back, 18)
  lu.assertEquals(sweep.format(sweep.summarise(back)), sweep.format(sweep.summarise(rows)))
  check_summary(sweep.summarise(back))
end

function TestSweep:test_a_real_point_trains_and_a_failed_one_is_named()
  local spec = { task = { name = "mqar", vocab_size = 16, seq_len = 16, num_kv_pairs = 2, batch_size = 4 },
                 model = { d_model = 16, n_layer = 1, num_heads = 2 }, variants = { "mqa" },
                 lrs = { 1e-2 }, seeds = { 1 }, steps = 6, eval_every = 3, val_batches = 1,
                 test_batches = 1, quiet = true }
  local row = sweep.run_point(spec, sweep.points(spec)[1])
  lu.assertEquals(#row.curve, 2)
  lu.assertEquals(row.curve[2].step, 6)
  lu.assertTrue(row.test_acc >= 0 and row.test_acc <= 1)
  lu.assertEquals(row.kv, 2 * 8)                   -- one layer, one kv head of 8
  -- the same point in a worker process gives the same numbers
  spec.jobs, spec.seeds = 2, { 1, 2 }
  local rows = sweep.map(spec, sweep.points(spec))
  lu.assertEquals(rows[1].curve, row.curve)
  lu.assertEquals(rows[1].test_acc, row.test_acc)
  -- a point that fails in its worker is named
  spec.model.num_heads = 3
  H.raises("sweep: the run of point 1 (mqa, lr 0.01, seed 1) failed", sweep.map, spec, sweep.points(spec))
end

function TestSweep:test_spec_errors()
  H.raises("sweep: unknown option 'lr' (did you mean 'lrs'?)", sweep.points, { lr = 1 })
  H.raises("sweep: seeds must be a non-empty list",
           sweep.points, { variants = { "mha" }, lrs = { 1 }, seeds = {}, steps = 1 })
  H.raises("sweep: cannot read /nonexistent-lunet.csv: No such file or directory", sweep.read_csv,
           "/nonexistent-lunet.csv")
  H.raises("sweep: cannot pass a function to a worker process",
           sweep.map, { variants = { "a" }, lrs = { 1 }, seeds = { 1, 2 }, steps = 1, jobs = 2,
                        model = { f = print } }, { { index = 1 }, { index = 2 } })
end
