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
