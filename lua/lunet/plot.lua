--[[
lunet.plot: figures through gnuplot (Debian's gnuplot-nox, which
tools/deps.sh installs): PNG or SVG files (by the name's extension), or,
with no `out`, drawn in the terminal as text (gnuplot's dumb terminal, as
wide as the terminal).  For a file the data and the gnuplot script are
written beside it (out.dat, out.gp), so a figure can be redrawn or
restyled.

  local plot = require "lunet.plot"
  plot.curves(history, {y = "eval_acc", out = "acc.png"})     -- lunet.train's history
  plot.curves("run.csv", {y = "loss"})                         -- its CSV log, in the terminal
  plot.curves({mha = h1, mla = h2}, {y = "loss", logy = true, out = "loss.svg"})
  plot.curves({mha = {h1, h2, h3}, mla = {...}}, {y = "eval_acc"})   -- runs: mean and spread
  plot.bars(compare{...}, {y = "kv", out = "kv.png"})          -- a comparison table's column
  plot.comparison(compare{...}, {out = "cmp.png"})             -- params, FLOPs, KV cache
  plot.bars({{"mha", 0.99, 0.98, 1.0}, {"mla", 0.30}}, {ylabel = "recall"})
  plot.figure({panel1, panel2}, {out = "fig.png", title = "..."})   -- panels side by side

A panel is a table {kind = "lines" | "points" | "bars", title, xlabel,
ylabel, logx, logy, xrange = {lo, hi}, yrange = {lo, hi}, series = {...}},
each series {name, x = {...}, y = {...}, lo = {...}, hi = {...}} (lo/hi
optional: a shaded band around a line, error bars on points and bars;
bars take one y per series).  Each function returns true and the file's
path (or "terminal"; with print = false, the text instead of printing
it), or false and why
(gnuplot missing or failing): a figure is never worth stopping a run for.
]]
local util = require "lunet.util"

local plot = {}

local PANEL = { "kind", "title", "xlabel", "ylabel", "logx", "logy", "xrange", "yrange", "series", "key" }
local FIGURE = { "out", "title", "width", "height", "layout", "print" }

-- series colours: ColorBrewer's Dark2, readable on white and apart in print
local PALETTE = table.concat({
  "set linetype 1 lc rgb '#1b9e77'", "set linetype 2 lc rgb '#d95f02'", "set linetype 3 lc rgb '#7570b3'",
  "set linetype 4 lc rgb '#e7298a'", "set linetype 5 lc rgb '#66a61e'", "set linetype 6 lc rgb '#e6ab02'",
  "set linetype 7 lc rgb '#a6761d'", "set linetype 8 lc rgb '#666666'", "set linetype cycle 8",
}, "\n")

local function sh(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

local function succeeded(ok) return ok == true or ok == 0 end

-- nil: not asked yet; false: gnuplot is not installed; else its best PNG terminal
local gnuplot
local function png_terminal()
  if gnuplot == nil then
    if not succeeded(os.execute("command -v gnuplot >/dev/null 2>&1")) then
      gnuplot = false
    elseif succeeded(os.execute("gnuplot -e 'set terminal pngcairo' >/dev/null 2>&1")) then
      gnuplot = "pngcairo"
    else
      gnuplot = "png"
    end
  end
  return gnuplot
end

-- the terminal line for out, by its extension (nil: text in the terminal,
-- as wide as it is), and the terminal's kind
local function terminal_for(out, w, h, rows)
  local png = png_terminal()
  if not png then return nil end
  if out == nil then   -- each row of panels a quarter of the width tall
    local cols = require("lunet.progress").terminal_width(io.stdout) or 80
    return string.format("set terminal dumb size %d,%d", math.max(40, cols - 1),
                         rows * math.max(12, cols // 4)), "dumb"
  elseif out:lower():match("%.svg$") then
    return string.format("set terminal svg size %d,%d noenhanced font 'sans,10'", w, h), "svg"
  end
  return string.format("set terminal %s size %d,%d noenhanced%s", png, w, h,
                       png == "pngcairo" and " font ',10'" or ""), png
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
local function panel_script(panel, dat, block, kind)
  local cairo = kind == "pngcairo" or kind == "svg"
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
                                          cairo and "fs transparent solid 0.2 noborder"
                                            or kind == "dumb" and "fs empty" or "fs solid 0.2",
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
  if panel.kind == "bars" then
    add("set xrange [0.3:%d.7]", #panel.series); add("set boxwidth 0.6")
    if not panel.yrange and not panel.logy then add("set yrange [0:*]") end   -- bars start at 0
  end
  add("plot %s", table.concat(items, ", \\\n     "))
  return table.concat(lines, "\n")
end

-- run a dumb-terminal script, print its text (when show) and clean up
local function plot_text(base, gp, dat, show)
  local p = io.popen("gnuplot " .. sh(gp) .. " 2>" .. sh(base .. ".log"))
  local text = p:read("a")
  local ok = succeeded(p:close())
  local err = util.read_file(base .. ".log") or ""
  for _, f in ipairs { gp, dat, base .. ".log", base } do os.remove(f) end
  if not ok then return false, "gnuplot failed: " .. err end
  text = text:gsub("^\f", ""):gsub("%s+$", "")
  if not show then return true, text end
  print(text)
  return true, "terminal"
end

local function check_panel(p)
  util.check_options("plot", p, PANEL)
  if p.kind ~= "lines" and p.kind ~= "points" and p.kind ~= "bars" then
    util.fail("plot", "panel kind must be 'lines', 'points' or 'bars', got %s", tostring(p.kind))
  end
  if type(p.series) ~= "table" then util.fail("plot", "panel series must be a list") end
end

--[[
plot.figure(panels, {out = nil, title = nil, width = 600 * #panels,
height = 450, layout = {rows, cols}, print = true}) -> true, out | false, why
out ending in .svg: SVG; any other name: PNG; nil: text in the terminal
(printed, and "terminal" returned; with print = false, the text returned).
]]
function plot.figure(panels, opts)
  util.check_options("plot.figure", opts, FIGURE)
  opts = opts or {}
  if type(panels) ~= "table" or #panels == 0 then util.fail("plot.figure", "expected a list of panels") end
  for _, p in ipairs(panels) do check_panel(p) end
  local out = opts.out
  if out ~= nil and type(out) ~= "string" then util.fail("plot.figure", "out must be a file name, got %s", type(out)) end
  local layout = opts.layout or { 1, #panels }
  local term, kind = terminal_for(out, opts.width or 600 * layout[2], opts.height or 450 * layout[1], layout[1])
  if not term then return false, "gnuplot not found (Debian package gnuplot-nox)" end
  local base = out and out:gsub("%.[Pp][Nn][Gg]$", ""):gsub("%.[Ss][Vv][Gg]$", "") or os.tmpname()
  local dat, gp = base .. ".dat", base .. ".gp"
  local f, err = io.open(dat, "w")
  if not f then return false, "plot: cannot write " .. tostring(err) end   -- a figure never stops a run
  local blocks, next_block = {}, 0
  for i, p in ipairs(panels) do
    blocks[i] = next_block
    write_data(f, p)
    next_block = next_block + #p.series
  end
  f:close()
  local script = { string.format("# gnuplot %s  (written by lunet.plot)", gp), term,
                   out and string.format("set output %q", out) or "set output",
                   PALETTE,
                   string.format("set multiplot layout %d,%d title %q", layout[1], layout[2], opts.title or "") }
  for i, p in ipairs(panels) do script[#script + 1] = panel_script(p, dat, blocks[i], kind) end
  script[#script + 1] = "unset multiplot"
  f, err = io.open(gp, "w")
  if not f then return false, "plot: cannot write " .. tostring(err) end
  f:write(table.concat(script, "\n"), "\n")
  f:close()
  if out == nil then return plot_text(base, gp, dat, opts.print ~= false) end
  if not succeeded(os.execute("gnuplot " .. sh(gp) .. " 2>" .. sh(base .. ".log"))) then
    return false, "gnuplot failed (see " .. base .. ".log)"
  end
  os.remove(base .. ".log")
  return true, out
end

-- ---------------------------------------------------------------- curves

-- a CSV file with a header line (lunet.train's log, sweep.write_csv's) as
-- a list of rows, with numbers where the cell is one
function plot.read_csv(path)
  local f, err = io.open(path, "r")
  if not f then util.fail("plot", "cannot read %s", tostring(err)) end   -- err names the path
  local header, rows = f:read("l"), {}
  if header == nil then f:close(); util.fail("plot", "%s is empty", path) end
  local names = {}
  for name in (header .. ","):gmatch("([^,]*),") do names[#names + 1] = name end
  for line in f:lines() do
    local row, i = {}, 0
    for cell in (line .. ","):gmatch("([^,]*),") do
      i = i + 1
      if names[i] and cell ~= "" then row[names[i]] = tonumber(cell) or cell end
    end
    rows[#rows + 1] = row
  end
  f:close()
  return rows
end

-- a list of rows (tables keyed by field), not a list of such lists
local function is_rows(v) return type(v) == "table" and type(v[1]) == "table" and v[1][1] == nil end

--[[
plot.spread(runs, {x = "step", y = "loss", name, spread = "range"}) -> a
series: the mean of field y over several runs (each a list of rows, such
as lunet.train's history or a sweep row's curve, on the same x) and a
band from the lowest to the highest run (spread = "range") or the mean
+- one sample standard deviation (spread = "std").
]]
function plot.spread(runs, opts)
  util.check_options("plot.spread", opts, { "x", "y", "name", "spread" })
  opts = opts or {}
  local x, y, how = opts.x or "step", opts.y or "loss", opts.spread or "range"
  if how ~= "range" and how ~= "std" then
    util.fail("plot.spread", "spread must be 'range' or 'std', got %s", tostring(how))
  end
  if type(runs) ~= "table" or not is_rows(runs[1]) then
    util.fail("plot.spread", "expected a list of runs, each a list of rows")
  end
  local s = { name = opts.name or y, x = {}, y = {}, lo = {}, hi = {} }
  for i, row in ipairs(runs[1]) do
    local values, sum = {}, 0
    for _, run in ipairs(runs) do
      local v = run[i] and run[i][y]
      if type(v) == "number" then values[#values + 1], sum = v, sum + v end
    end
    local n = #values
    s.x[i] = row[x]
    if n > 0 then
      local mean = sum / n
      s.y[i] = mean
      if how == "std" then
        local ss = 0
        for _, v in ipairs(values) do ss = ss + (v - mean) ^ 2 end
        local sd = n > 1 and math.sqrt(ss / (n - 1)) or 0
        s.lo[i], s.hi[i] = mean - sd, mean + sd
      else
        s.lo[i], s.hi[i] = math.min(table.unpack(values)), math.max(table.unpack(values))
      end
    end
  end
  return s
end

-- the series of data: rows (a history), a CSV file name, name -> either,
-- or name -> a list of runs (their mean and spread)
local function series_of(data, o)
  local x, y = o.x or "step", o.y or "loss"
  if type(data) == "string" then data = plot.read_csv(data) end
  local named = {}
  if data[1] ~= nil then
    named[1] = { y, data }
  else
    for name, rows in pairs(data) do
      named[#named + 1] = { name, type(rows) == "string" and plot.read_csv(rows) or rows }
    end
    table.sort(named, function(a, b) return tostring(a[1]) < tostring(b[1]) end)
  end
  local series = {}
  for _, e in ipairs(named) do
    if type(e[2]) ~= "table" then
      util.fail("plot.curves", "series '%s' is %s, expected rows", tostring(e[1]), type(e[2]))
    end
    if is_rows(e[2][1]) then
      series[#series + 1] = plot.spread(e[2], { x = x, y = y, name = e[1], spread = o.spread })
    else
      local s = { name = e[1], x = {}, y = {}, lo = o.lo and {}, hi = o.hi and {} }
      for i, r in ipairs(e[2]) do
        s.x[i], s.y[i] = r[x], r[y]
        if o.lo then s.lo[i], s.hi[i] = r[o.lo], r[o.hi] end
      end
      series[#series + 1] = s
    end
  end
  return series
end

-- whether any series has a number in its x or y list
local function has_values(series, axis)
  for _, se in ipairs(series) do
    for _, v in pairs(se[axis]) do
      if type(v) == "number" and v == v then return true end
    end
  end
  return false
end

-- " (the columns there: a, b)" for a message: the fields the first rows have
local function columns_of(data)
  if type(data) == "string" then data = plot.read_csv(data) end
  local rows = data[1] ~= nil and data or select(2, next(data))
  if type(rows) == "string" then rows = plot.read_csv(rows) end
  if type(rows) == "table" and is_rows(rows[1]) then rows = rows[1] end
  local seen, names = {}, {}
  for _, r in ipairs(type(rows) == "table" and rows or {}) do
    if type(r) == "table" then
      for k, v in pairs(r) do
        if type(v) == "number" and not seen[k] then seen[k] = true; names[#names + 1] = tostring(k) end
      end
    end
  end
  table.sort(names)
  return #names > 0 and " (the columns with numbers: " .. table.concat(names, ", ") .. ")" or ""
end

--[[
plot.curves(data, {x = "step", y = "loss", lo, hi, spread = "range", out,
title, xlabel, ylabel, logx, logy, xrange, yrange, key, print}): one line
per series.  data: a list of rows (lunet.train's history), a CSV file
name (its log), name -> either (one line each), or name -> a list of runs
(their mean, with a band over the runs: see plot.spread).  lo/hi name the
fields of a band around a single run.
]]
function plot.curves(data, opts)
  util.check_options("plot.curves", opts, { "x", "y", "lo", "hi", "spread", "out", "title", "xlabel",
                                            "ylabel", "logx", "logy", "yrange", "xrange", "key", "print" })
  opts = opts or {}
  if type(data) ~= "table" and type(data) ~= "string" then
    util.fail("plot.curves", "expected rows, a CSV file name or name -> rows, got %s", type(data))
  end
  local x, y = opts.x or "step", opts.y or "loss"
  local series = series_of(data, opts)
  for _, field in ipairs { x, y } do
    if not has_values(series, field == x and "x" or "y") then   -- nothing to draw: say why
      return false, string.format("plot.curves: column '%s' has no values%s", field, columns_of(data))
    end
  end
  local panel = { kind = "lines", xlabel = opts.xlabel or x, ylabel = opts.ylabel or y, logx = opts.logx,
                  logy = opts.logy, yrange = opts.yrange, xrange = opts.xrange, key = opts.key,
                  series = series }
  return plot.figure({ panel }, { out = opts.out, title = opts.title, print = opts.print })
end

-- ---------------------------------------------------------------- bars

-- one bar per entry: {name, value [, lo, hi]}, or a record (lunet.compare's
-- row, a sweep summary's entry) giving field y named by field x
local function bar_series(values, x, y)
  if type(values) ~= "table" then util.fail("plot.bars", "expected a list, got %s", type(values)) end
  local series = {}
  for i, v in ipairs(values) do
    if type(v) ~= "table" then util.fail("plot.bars", "values[%d] is %s, expected a table", i, type(v)) end
    if v[1] ~= nil then
      series[i] = { name = v[1], y = { v[2] }, lo = v[3] and { v[3] }, hi = v[4] and { v[4] } }
    else
      if y == nil then util.fail("plot.bars", "records need the field to draw: {y = ...}") end
      local val = v[y]
      if type(val) == "table" then     -- a sweep summary's {mean, min, max, ...}
        series[i] = { name = v[x] or tostring(i), y = { val.mean }, lo = { val.min }, hi = { val.max } }
      else
        series[i] = { name = v[x] or tostring(i), y = { val } }
      end
    end
  end
  return series
end

--[[
plot.bars(values, {x = "variant", y, out, title, ylabel, yrange, logy,
print}): values is a list of {name, value [, lo, hi]} (lo..hi: an error
bar), or of records such as lunet.compare's rows, drawn as field y named
by field x: plot.bars(compare{...}, {y = "params"}).
]]
function plot.bars(values, opts)
  util.check_options("plot.bars", opts, { "x", "y", "out", "title", "ylabel", "yrange", "logy", "print" })
  opts = opts or {}
  local panel = { kind = "bars", ylabel = opts.ylabel or opts.y, yrange = opts.yrange, logy = opts.logy,
                  series = bar_series(values, opts.x or "variant", opts.y) }
  return plot.figure({ panel }, { out = opts.out, title = opts.title, print = opts.print })
end

--[[
plot.comparison(rows, {columns = {"params", "flops", "kv"}, x = "variant",
out, title, print}): a comparison table (lunet.compare's rows) as bar
panels, one per column: parameters, forward FLOPs per token and KV-cache
floats per token per variant; side by side in a file, one under another
in the terminal (where text plots side by side would overlap).
]]
function plot.comparison(rows, opts)
  util.check_options("plot.comparison", opts, { "columns", "x", "out", "title", "print" })
  opts = opts or {}
  local labels = { params = "parameters", flops = "forward FLOPs per token", kv = "KV-cache floats per token" }
  local text = opts.out == nil
  local panels = {}
  for i, c in ipairs(opts.columns or { "params", "flops", "kv" }) do
    panels[i] = { kind = "bars", title = labels[c] or c, ylabel = not text and (labels[c] or c) or nil,
                  series = bar_series(rows, opts.x or "variant", c) }
  end
  return plot.figure(panels, { out = opts.out, title = opts.title, print = opts.print,
                               layout = text and { #panels, 1 } or nil })
end

return plot
