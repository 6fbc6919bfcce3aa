--[[
lunet.plot: PNG figures through gnuplot (Debian's gnuplot-nox, which
tools/deps.sh installs).  The data and the gnuplot script are written
beside the PNG (out.dat, out.gp), so a figure can be redrawn or restyled.

  local plot = require "lunet.plot"
  plot.curves(history, {y = "eval_acc", out = "acc.png"})          -- lunet.train's history
  plot.curves({mha = h1, mla = h2}, {y = "loss", logy = true, out = "loss.png"})
  plot.bars({{"mha", 0.99, 0.98, 1.0}, {"mla", 0.30}}, {ylabel = "recall", out = "r.png"})
  plot.figure({panel1, panel2}, {out = "fig.png", title = "..."})   -- panels side by side

A panel is a table {kind = "lines" | "points" | "bars", title, xlabel,
ylabel, logx, logy, xrange = {lo, hi}, yrange = {lo, hi}, series = {...}},
each series {name, x = {...}, y = {...}, lo = {...}, hi = {...}} (lo/hi
optional: a shaded band around a line, error bars on points and bars;
bars take one y per series).  Each function returns true and the PNG's
path, or false and why (gnuplot missing or failing): a figure is never
worth stopping a run for.
]]
local util = require "lunet.util"

local plot = {}

local PANEL = { "kind", "title", "xlabel", "ylabel", "logx", "logy", "xrange", "yrange", "series", "key" }
local FIGURE = { "out", "title", "width", "height", "layout" }

-- series colours: ColorBrewer's Dark2, readable on white and apart in print
local PALETTE = table.concat({
  "set linetype 1 lc rgb '#1b9e77'", "set linetype 2 lc rgb '#d95f02'", "set linetype 3 lc rgb '#7570b3'",
  "set linetype 4 lc rgb '#e7298a'", "set linetype 5 lc rgb '#66a61e'", "set linetype 6 lc rgb '#e6ab02'",
  "set linetype 7 lc rgb '#a6761d'", "set linetype 8 lc rgb '#666666'", "set linetype cycle 8",
}, "\n")

local function sh(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

local function succeeded(ok) return ok == true or ok == 0 end

-- gnuplot is installed, and its best PNG terminal
local terminal
local function png_terminal()
  if terminal == nil then
    if not succeeded(os.execute("command -v gnuplot >/dev/null 2>&1")) then
      terminal = false
    elseif succeeded(os.execute("gnuplot -e 'set terminal pngcairo' >/dev/null 2>&1")) then
      terminal = "pngcairo"
    else
      terminal = "png"
    end
  end
  return terminal
end

local function num(v)
  if v == nil or v ~= v then return "NaN" end
  return string.format("%.9g", v)
end

-- the data blocks of a panel, one per series (gnuplot's `index`)
local function write_data(f, panel)
  for _, s in ipairs(panel.series) do
    f:write("# ", tostring(s.name), "\n")
    if panel.kind == "bars" then
      f:write(string.format("%q %s %s %s\n", tostring(s.name), num(s.y[1] or s.y), num(s.lo and (s.lo[1] or s.lo)),
                            num(s.hi and (s.hi[1] or s.hi))))
    else
      for i = 1, #s.x do
        f:write(num(s.x[i]), " ", num(s.y[i]), " ", num(s.lo and s.lo[i]), " ", num(s.hi and s.hi[i]), "\n")
      end
    end
    f:write("\n\n")
  end
end

-- the gnuplot commands of one panel; `block` is its first data block
local function panel_script(panel, dat, block, cairo)
  local lines = {}
  local function add(fmt, ...) lines[#lines + 1] = string.format(fmt, ...) end
  add("set title %q", panel.title or "")
  add("set xlabel %q", panel.xlabel or "")
  add("set ylabel %q", panel.ylabel or "")
  add(panel.logx and "set logscale x" or "unset logscale x")
  add(panel.logy and "set logscale y" or "unset logscale y")
  add(panel.xrange and "set xrange [%s:%s]" or "set autoscale x", num(panel.xrange and panel.xrange[1]),
      num(panel.xrange and panel.xrange[2]))
  add(panel.yrange and "set yrange [%s:%s]" or "set autoscale y", num(panel.yrange and panel.yrange[1]),
      num(panel.yrange and panel.yrange[2]))
  add("set key %s", panel.key or "bottom right")
  add("set grid")
  local items = {}
  for i, s in ipairs(panel.series) do
    local idx, color = block + i - 1, string.format("lc %d", i)
    local band = s.lo and s.hi
    if panel.kind == "lines" then
      if band then
        items[#items + 1] = string.format("%q index %d using 1:3:4 with filledcurves %s %s notitle", dat, idx,
                                          cairo and "fs transparent solid 0.2 noborder" or "fs solid 0.2",
                                          color)
      end
      items[#items + 1] = string.format("%q index %d using 1:2 with lines lw 2 %s title %q", dat, idx, color,
                                        tostring(s.name))
    elseif panel.kind == "points" then
      items[#items + 1] = string.format("%q index %d using 1:2%s with %s pt 7 ps 1.5 %s title %q", dat, idx,
                                        band and ":3:4" or "", band and "yerrorbars" or "points", color,
                                        tostring(s.name))
    else   -- bars: one box per series, at x = its position
      items[#items + 1] = string.format("%q index %d using (%d):2:(0.6):xtic(1) with boxes fs solid 0.5 %s notitle",
                                        dat, idx, i, color)
      if band then
        items[#items + 1] = string.format("%q index %d using (%d):2:3:4 with yerrorbars pt 0 lc black notitle",
                                          dat, idx, i)
      end
    end
  end
  if panel.kind == "bars" then add("set xrange [0.3:%d.7]", #panel.series); add("set boxwidth 0.6") end
  add("plot %s", table.concat(items, ", \\\n     "))
  return table.concat(lines, "\n")
end

local function check_panel(p)
  util.check_options("plot", p, PANEL)
  if p.kind ~= "lines" and p.kind ~= "points" and p.kind ~= "bars" then
    util.fail("plot", "panel kind must be 'lines', 'points' or 'bars', got %s", tostring(p.kind))
  end
  if type(p.series) ~= "table" then util.fail("plot", "panel series must be a list") end
end

--[[
plot.figure(panels, {out = "fig.png", title = nil, width = 600 * #panels,
height = 450, layout = {rows, cols}}) -> true, out | false, why
]]
function plot.figure(panels, opts)
  util.check_options("plot.figure", opts, FIGURE)
  opts = opts or {}
  if type(panels) ~= "table" or #panels == 0 then util.fail("plot.figure", "expected a list of panels") end
  for _, p in ipairs(panels) do check_panel(p) end
  local out = opts.out or "plot.png"
  local term = png_terminal()
  if not term then return false, "gnuplot not found (Debian package gnuplot-nox)" end
  local base = out:gsub("%.png$", "")
  local dat, gp = base .. ".dat", base .. ".gp"
  local f = assert(io.open(dat, "w"))
  local blocks, next_block = {}, 0
  for i, p in ipairs(panels) do
    blocks[i] = next_block
    write_data(f, p)
    next_block = next_block + #p.series
  end
  f:close()
  local layout = opts.layout or { 1, #panels }
  local w = opts.width or 600 * layout[2]
  local h = opts.height or 450 * layout[1]
  local script = { string.format("# gnuplot %s  (written by lunet.plot)", gp),
                   string.format("set terminal %s size %d,%d noenhanced%s", term, w, h,
                                 term == "pngcairo" and " font ',10'" or ""),
                   string.format("set output %q", out),
                   PALETTE,
                   string.format("set multiplot layout %d,%d title %q", layout[1], layout[2], opts.title or "") }
  for i, p in ipairs(panels) do script[#script + 1] = panel_script(p, dat, blocks[i], term == "pngcairo") end
  script[#script + 1] = "unset multiplot"
  f = assert(io.open(gp, "w"))
  f:write(table.concat(script, "\n"), "\n")
  f:close()
  if not succeeded(os.execute("gnuplot " .. sh(gp) .. " 2>" .. sh(base .. ".log"))) then
    return false, "gnuplot failed (see " .. base .. ".log)"
  end
  os.remove(base .. ".log")
  return true, out
end

-- rows: a list of tables (lunet.train's history), or name -> such a list
local function series_of(data, x, y, lo, hi)
  local named = {}
  if data[1] ~= nil then
    named[1] = { y, data }
  else
    for name, rows in pairs(data) do named[#named + 1] = { name, rows } end
    table.sort(named, function(a, b) return tostring(a[1]) < tostring(b[1]) end)
  end
  local series = {}
  for _, e in ipairs(named) do
    local s = { name = e[1], x = {}, y = {}, lo = lo and {}, hi = hi and {} }
    for i, r in ipairs(e[2]) do
      s.x[i], s.y[i] = r[x], r[y]
      if lo then s.lo[i], s.hi[i] = r[lo], r[hi] end
    end
    series[#series + 1] = s
  end
  return series
end

--[[
plot.curves(data, {x = "step", y = "loss", lo = nil, hi = nil, out, title,
xlabel, ylabel, logy, yrange}): one line per series of rows (lo/hi: the
fields of a band around it).
]]
function plot.curves(data, opts)
  util.check_options("plot.curves", opts, { "x", "y", "lo", "hi", "out", "title", "xlabel", "ylabel",
                                            "logx", "logy", "yrange", "xrange", "key" })
  opts = opts or {}
  if type(data) ~= "table" then util.fail("plot.curves", "expected rows or name -> rows, got %s", type(data)) end
  local x, y = opts.x or "step", opts.y or "loss"
  local panel = { kind = "lines", xlabel = opts.xlabel or x, ylabel = opts.ylabel or y, logx = opts.logx,
                  logy = opts.logy, yrange = opts.yrange, xrange = opts.xrange, key = opts.key,
                  series = series_of(data, x, y, opts.lo, opts.hi) }
  return plot.figure({ panel }, { out = opts.out, title = opts.title })
end

--[[
plot.bars(values, {out, title, ylabel, yrange}): values is a list of
{name, value [, lo, hi]} (lo..hi: an error bar).
]]
function plot.bars(values, opts)
  util.check_options("plot.bars", opts, { "out", "title", "ylabel", "yrange" })
  opts = opts or {}
  local series = {}
  for i, v in ipairs(values) do
    series[i] = { name = v[1], y = { v[2] }, lo = v[3] and { v[3] }, hi = v[4] and { v[4] } }
  end
  local panel = { kind = "bars", ylabel = opts.ylabel, yrange = opts.yrange, series = series }
  return plot.figure({ panel }, { out = opts.out, title = opts.title })
end

return plot
