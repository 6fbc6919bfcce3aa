--[[
lunet.progress: the progress output of a loop over steps (lunet.train's).

  local p = progress.new{first = 0, last = 1000, mode = nil, output = io.stdout}
  p:update(step, {loss =, acc =, tokens_per_s =, elapsed =})  -- after each step
  p:row(row)        -- a logged row (lunet.train's history row)
  p:close(failed)   -- at the end, or on the way out of an error

mode "bar": one line redrawn in place (at most ten times a second) with a
bar, step, loss, accuracy, the last evaluation's loss and accuracy,
tokens/s and ETA, fitted to the terminal's width: the bar shrinks first,
then the least useful fields go, so the line never wraps.  mode "lines":
one plain line per logged row, for pipes and files.  Without a mode, a
terminal output gets the bar and anything else the lines; the terminal
and its width are asked of the kernel (lunet._term_width: isatty and
TIOCGWINSZ), no shell.
]]
local lunet = require "lunet"

local progress = {}
progress.__index = progress

local now = lunet._now or os.clock

-- the width of out when it is a terminal, else nil
function progress.terminal_width(out)
  if io.type(out) ~= "file" then return nil end
  return lunet._term_width(out)
end

-- whether out (default io.stdout) is a terminal
function progress.is_terminal(out)
  return progress.terminal_width(out or io.stdout) ~= nil
end

-- seconds as "1:05" or "1:02:03"; "--:--" when unknown
function progress.clock_str(s)
  if s ~= s or s == math.huge then return "--:--" end
  s = math.floor(s + 0.5)
  if s >= 3600 then return string.format("%d:%02d:%02d", s // 3600, s // 60 % 60, s % 60) end
  return string.format("%d:%02d", s // 60, s % 60)
end
local clock_str = progress.clock_str

local function fmt(v, f)
  if v == nil then return "--" end
  return string.format(f, v)
end

-- the bar's fields in the order they show, each with its priority (1 is
-- kept longest) and its text
local function bar_fields(self, step, s)
  local done = (step - self.first) / math.max(1, self.last - self.first)
  local eta = done > 0 and s.elapsed * (1 - done) / done or math.huge
  local fields = {
    { 1, string.format("%d/%d", step, self.last) },
    { 2, "loss " .. fmt(s.loss, "%.4f") },
    { 5, "acc " .. fmt(s.acc, "%.3f") },
  }
  local ev = self.eval
  if ev and ev.eval_loss then
    fields[#fields + 1] = { 4, string.format("eval %s/%s", fmt(ev.eval_loss, "%.4f"), fmt(ev.eval_acc, "%.3f")) }
  end
  fields[#fields + 1] = { 6, fmt(s.tokens_per_s, "%.0f") .. " tok/s" }
  fields[#fields + 1] = { 3, "ETA " .. clock_str(eta) }
  return fields, done
end

local MIN_BAR, MAX_BAR = 10, 30

--[[
progress.bar_line(self, step, stats, cols) -> the bar line, at most
cols - 1 characters (a line as wide as the terminal would wrap on some).
]]
function progress.bar_line(self, step, s, cols)
  local fields, done = bar_fields(self, step, s)
  local limit = cols - 1
  while true do
    local parts = {}
    for _, f in ipairs(fields) do parts[#parts + 1] = f[2] end
    local text = table.concat(parts, "  ")
    local room = limit - #text - 3          -- "[" .. bar .. "] "
    if room >= MIN_BAR or #fields == 1 then
      local width = math.max(0, math.min(MAX_BAR, room))
      if width < MIN_BAR then return (text:sub(1, limit)) end
      local fill = math.floor(done * width + 0.5)
      return "[" .. string.rep("#", fill) .. string.rep(".", width - fill) .. "] " .. text
    end
    local worst = 1                           -- drop the least useful field
    for i, f in ipairs(fields) do if f[1] > fields[worst][1] then worst = i end end
    table.remove(fields, worst)
  end
end

-- the plain line of a logged row
function progress.log_line(row, last)
  local w = #tostring(last)
  local parts = { string.format("step %" .. w .. "d/%d", row.step, last),
                  "loss " .. fmt(row.loss, "%.4f"), "acc " .. fmt(row.acc, "%.3f") }
  if row.eval_loss then
    parts[#parts + 1] = "eval_loss " .. fmt(row.eval_loss, "%.4f")
    parts[#parts + 1] = "eval_acc " .. fmt(row.eval_acc, "%.3f")
  end
  parts[#parts + 1] = "lr " .. fmt(row.lr, "%.3g")
  parts[#parts + 1] = fmt(row.tokens_per_s, "%.0f") .. " tok/s"
  parts[#parts + 1] = string.format("%.1fs", row.elapsed)
  return table.concat(parts, "  ")
end

--[[
progress.new{first, last, mode = "bar" | "lines" | nil, output = io.stdout,
quiet = false} -> a progress display for steps first+1 .. last (see above).
]]
function progress.new(o)
  local out = o.output or io.stdout
  local cols = progress.terminal_width(out)
  local mode = not o.quiet and (o.mode or (cols and "bar" or "lines")) or nil
  return setmetatable({ first = o.first or 0, last = o.last, mode = mode, out = out,
                        cols = cols or 80, last_draw = -1, eval = nil, drawn = false }, progress)
end

-- after each step: redraw the bar (at most every 0.1 s, and at the end)
function progress:update(step, stats)
  if self.mode ~= "bar" then return end
  local t = now()
  local final = step == self.last
  if not final and t - self.last_draw < 0.1 then return end
  self.last_draw = t
  self.cols = progress.terminal_width(self.out) or self.cols   -- the window may have changed
  self.out:write("\r", progress.bar_line(self, step, stats, self.cols), "\27[K")
  self.drawn = not final
  if final then self.out:write("\n") end
  self.out:flush()
end

-- a logged row: a plain line, or (bar) the evaluation the bar shows
function progress:row(row)
  if row.eval_loss then self.eval = row end
  if self.mode == "lines" then
    self.out:write(progress.log_line(row, self.last), "\n")
    self.out:flush()
  end
end

-- at the end: a bar left mid-line gets its newline
function progress:close()
  if self.mode == "bar" and self.drawn then
    self.out:write("\n")
    self.out:flush()
    self.drawn = false
  end
end

return progress
