-- lunet.plot: the data and script it writes, and a PNG when gnuplot is there.
local lu = require "luaunit"
local H = require "helpers"
local plot = require "lunet.plot"
local util = require "lunet.util"

TestPlot = {}

local function have_gnuplot()
  local ok = os.execute("command -v gnuplot >/dev/null 2>&1")
  return ok == true or ok == 0
end

local PNG = "\137PNG\r\n\26\n"

function TestPlot:test_curves_of_histories_with_a_band()
  os.execute("mkdir -p tmp")
  local h1, h2 = {}, {}
  for i = 1, 5 do
    h1[i] = { step = 10 * i, loss = 1 / i, lo = 0.5 / i, hi = 2 / i }
    h2[i] = { step = 10 * i, loss = 2 / i }
  end
  local ok, out = plot.curves({ mla = h2, mha = h1 }, { y = "loss", lo = "lo", hi = "hi", logy = true,
                                                        out = "tmp/curves.png", title = "t" })
  local dat = util.read_file("tmp/curves.dat")
  lu.assertNotNil(dat)
  -- one block per series, in name order: x, y, lo, hi
  lu.assertStrContains(dat, "# mha\n10 1 0.5 2\n20 0.5 0.25 1\n")
  lu.assertStrContains(dat, "# mla\n10 2 NaN NaN\n")
  local gp = util.read_file("tmp/curves.gp")
  lu.assertStrContains(gp, "set logscale y")
  lu.assertStrContains(gp, "with filledcurves")
  if have_gnuplot() then
    lu.assertTrue(ok, out)
    lu.assertEquals(util.read_file(out):sub(1, 8), PNG)
  else
    lu.assertFalse(ok)
    lu.assertStrContains(out, "gnuplot not found")
  end
end

function TestPlot:test_bars_and_a_figure_of_panels()
  os.execute("mkdir -p tmp")
  local ok = plot.bars({ { "mha", 0.99, 0.98, 1.0 }, { "mla", 0.3 } }, { out = "tmp/bars.png", ylabel = "recall" })
  lu.assertStrContains(util.read_file("tmp/bars.dat"), '"mha" 0.99 0.98 1\n')
  lu.assertEquals(ok, have_gnuplot())
  ok = plot.figure({
    { kind = "lines", series = { { name = "a", x = { 1, 2 }, y = { 0.1, 0.9 } } } },
    { kind = "points", logx = true, series = { { name = "b", x = { 64 }, y = { 0.5 }, lo = { 0.4 }, hi = { 0.6 } } } },
  }, { out = "tmp/fig.png", title = "two panels" })
  local gp = util.read_file("tmp/fig.gp")
  lu.assertStrContains(gp, "set multiplot layout 1,2")
  lu.assertStrContains(gp, "index 1 using 1:2:3:4 with yerrorbars")
  lu.assertEquals(ok, have_gnuplot())
end

function TestPlot:test_errors()
  H.raises("plot: panel kind must be 'lines', 'points' or 'bars', got pie",
           plot.figure, { { kind = "pie", series = {} } })
  H.raises("plot.curves: unknown option 'yrnage' (did you mean 'yrange'?)", plot.curves, {}, { yrnage = 1 })
  H.raises("plot.figure: expected a list of panels", plot.figure, {})
end

-- ---------------------------------------------------------------- from the library's users' side

local function rows(n, f)
  local h = {}
  for i = 1, n do h[i] = { step = 10 * i, loss = f(i), eval_acc = i / n } end
  return h
end

function TestPlot:test_runs_with_spread()
  local a, b, c = rows(3, function(i) return 1 / i end), rows(3, function(i) return 2 / i end),
                  rows(3, function(i) return 3 / i end)
  local s = plot.spread({ a, b, c }, { y = "loss", name = "mha" })
  lu.assertEquals(s.name, "mha")
  lu.assertEquals(s.x, { 10, 20, 30 })
  lu.assertEquals(s.y, { 2, 1, 2 / 3 })
  lu.assertEquals(s.lo, { 1, 0.5, 1 / 3 })
  lu.assertEquals(s.hi, { 3, 1.5, 1 })
  local sd = plot.spread({ a, b, c }, { y = "loss", spread = "std" })
  lu.assertAlmostEquals(sd.hi[1] - sd.y[1], 1, 1e-12)          -- the sample std of 1, 2, 3
  H.raises("plot.spread: spread must be 'range' or 'std', got iqr", plot.spread, { a }, { spread = "iqr" })
  H.raises("plot.spread: expected a list of runs", plot.spread, a)
  -- curves of name -> runs draw the mean with a band
  os.execute("mkdir -p tmp")
  local ok = plot.curves({ mha = { a, b, c }, mla = { b } }, { y = "loss", out = "tmp/runs.png" })
  local dat = util.read_file("tmp/runs.dat")
  lu.assertStrContains(dat, "# mha\n10 2 1 3\n20 1 0.5 1.5\n")
  lu.assertStrContains(dat, "# mla\n10 2 2 2\n")
  lu.assertStrContains(util.read_file("tmp/runs.gp"), "filledcurves")
  lu.assertEquals(ok, have_gnuplot())
end

function TestPlot:test_curves_of_a_training_csv_as_svg()
  os.execute("mkdir -p tmp")
  H.write_file("tmp/run.csv", "step,loss,acc,eval_loss,eval_acc,lr\n10,2.5,0.1,,,0.001\n20,1.5,0.3,1.7,0.25,0.001\n")
  local r = plot.read_csv("tmp/run.csv")
  lu.assertEquals(r[1], { step = 10, loss = 2.5, acc = 0.1, lr = 0.001 })
  lu.assertEquals(r[2].eval_acc, 0.25)
  local ok, out = plot.curves("tmp/run.csv", { y = "loss", out = "tmp/run.svg" })
  lu.assertStrContains(util.read_file("tmp/run.dat"), "10 2.5 NaN NaN\n20 1.5 NaN NaN\n")
  lu.assertStrContains(util.read_file("tmp/run.gp"), "set terminal svg")
  if have_gnuplot() then
    lu.assertTrue(ok, out)
    lu.assertStrContains(util.read_file(out), "<svg")
  end
  H.raises("plot: cannot read tmp/none.csv", plot.curves, "tmp/none.csv")
end

function TestPlot:test_in_the_terminal()
  lu.skipIf(not have_gnuplot(), "gnuplot not installed")
  local h = rows(10, function(i) return 1 / i end)
  local ok, text = plot.curves(h, { y = "loss", print = false })
  lu.assertTrue(ok, text)
  lu.assertStrContains(text, "+---")                            -- the dumb terminal's frame
  lu.assertStrContains(text, "step")
  for line in text:gmatch("[^\n]+") do lu.assertTrue(#line <= 80, line) end
  lu.assertNil(text:find("\27", 1, true))
end

-- a column without values is said so, naming it (not "gnuplot failed");
-- like any figure, it returns false and why rather than stop a run
function TestPlot:test_a_column_without_values_is_named()
  local h = rows(4, function(i) return 1 / i end)
  for _, r in ipairs(h) do r.eval_acc = nil end                -- a log without evaluation
  local ok, why = plot.curves(h, { y = "eval_acc", print = false })
  lu.assertFalse(ok)
  lu.assertEquals(why, "plot.curves: column 'eval_acc' has no values (the columns with numbers: loss, step)")
  ok, why = plot.curves({ a = h, b = h }, { x = "epoch", out = "tmp/none.png" })
  lu.assertFalse(ok)
  lu.assertStrContains(why, "column 'epoch' has no values")
  -- nor does a file that cannot be written stop anything
  ok, why = plot.curves(h, { out = "/nonexistent-lunet/x.png" })
  lu.assertFalse(ok)
  lu.assertEquals(why, "plot: cannot write /nonexistent-lunet/x.dat: No such file or directory")
  -- a CSV that cannot be read is named once
  local ok2, err = pcall(plot.read_csv, "tmp/none.csv")
  lu.assertFalse(ok2)
  lu.assertStrContains(err, "plot: cannot read tmp/none.csv: No such file or directory")
end

-- in the terminal the comparison's panels stand one under another, so
-- their titles, labels and bars do not run into each other
function TestPlot:test_comparison_in_the_terminal_is_readable()
  lu.skipIf(not have_gnuplot(), "gnuplot not installed")
  local cmp = require("lunet.compare") { hidden_size = 64, num_heads = 4, build = false }
  local ok, text = plot.comparison(cmp, { print = false })
  lu.assertTrue(ok, text)
  for _, t in ipairs { "parameters", "forward FLOPs per token", "KV-cache floats per token" } do
    lu.assertNotNil(text:find("\n%s*" .. t:gsub("%-", "%%-") .. "%s*\n"), t .. " on a line of its own:\n" .. text)
  end
  lu.assertNotNil(text:find("mha%s+mqa%s+gqa%s+mla%s+gated"), text)     -- the labels apart
  for line in text:gmatch("[^\n]+") do lu.assertTrue(#line <= 80, line) end
end

function TestPlot:test_bars_of_a_comparison_table()
  os.execute("mkdir -p tmp")
  local cmp = require("lunet.compare") { hidden_size = 64, num_heads = 4, build = false }
  local ok = plot.bars(cmp, { y = "kv", out = "tmp/kv.png" })
  local dat = util.read_file("tmp/kv.dat")
  lu.assertStrContains(dat, '"mha" 128 NaN NaN\n')
  lu.assertStrContains(dat, '"mqa" 32 NaN NaN\n')
  lu.assertStrContains(util.read_file("tmp/kv.gp"), "set yrange [0:*]")
  lu.assertEquals(ok, have_gnuplot())
  ok = plot.comparison(cmp, { out = "tmp/cmp.png" })
  local gp = util.read_file("tmp/cmp.gp")
  lu.assertStrContains(gp, "set multiplot layout 1,3")
  for _, t in ipairs { "parameters", "forward FLOPs per token", "KV-cache floats per token" } do
    lu.assertStrContains(gp, t)
  end
  lu.assertEquals(ok, have_gnuplot())
  -- a sweep summary's entry: the mean with the range of seeds as error bar
  plot.bars({ { variant = "mha", test_acc = { mean = 0.8, min = 0.5, max = 1 } } }, { y = "test_acc",
                                                                                   out = "tmp/acc.png" })
  lu.assertStrContains(util.read_file("tmp/acc.dat"), '"mha" 0.8 0.5 1\n')
  H.raises("plot.bars: records need the field to draw", plot.bars, cmp)
  H.raises("plot.bars: values[1] is number", plot.bars, { 1 }, { y = "kv" })
end
