-- lunet.progress: the bar fits any width, shows the last evaluation, and
-- gives way to plain lines off a terminal.
local lu = require "luaunit"
local progress = require "lunet.progress"

TestProgress = {}

local function sink()
  local s = { text = {} }
  function s:write(...) for i = 1, select("#", ...) do self.text[#self.text + 1] = select(i, ...) end end
  function s:flush() end
  function s:str() return table.concat(self.text) end
  return s
end

function TestProgress:test_bar_fits_every_width()
  local p = progress.new { first = 0, last = 10000, mode = "bar", output = sink() }
  p:row { step = 100, loss = 1, eval_loss = 0.123456, eval_acc = 0.987 }
  local stats = { loss = 2.345678, acc = 0.5, tokens_per_s = 123456, elapsed = 12 }
  local seen_eval = false
  for cols = 20, 160, 7 do
    local line = progress.bar_line(p, 5000, stats, cols)
    lu.assertTrue(#line <= cols - 1, string.format("%d: %q", cols, line))
    lu.assertStrContains(line, "5000/10000")
    if line:find("eval 0.1235/0.987", 1, true) then seen_eval = true end
    if cols >= 100 then
      lu.assertStrMatches(line, "%[#+%.+%] 5000/10000  loss 2%.3457  acc 0%.500  eval 0%.1235/0%.987  " ..
                                "123456 tok/s  ETA 0:12")
    end
  end
  lu.assertTrue(seen_eval)
  -- narrow: the least useful fields go first, the count stays
  local narrow = progress.bar_line(p, 5000, stats, 40)
  lu.assertStrContains(narrow, "loss")
  lu.assertNotStrContains(narrow, "tok/s")
end

function TestProgress:test_modes()
  local out = sink()
  local p = progress.new { first = 0, last = 4, mode = "lines", output = out }
  p:update(1, { loss = 1, elapsed = 0 })                 -- lines: nothing per step
  p:row { step = 2, loss = 0.5, acc = 0.25, lr = 0.01, tokens_per_s = 100, elapsed = 1.5 }
  p:close()
  lu.assertEquals(out:str(), "step 2/4  loss 0.5000  acc 0.250  lr 0.01  100 tok/s  1.5s\n")
  -- a non-file output is no terminal: lines without a mode
  lu.assertEquals(progress.new { last = 1, output = sink() }.mode, "lines")
  lu.assertNil(progress.new { last = 1, quiet = true }.mode)
  lu.assertFalse(progress.is_terminal(io.tmpfile()))
  -- a bar interrupted mid-line is ended by close
  out = sink()
  p = progress.new { first = 0, last = 10, mode = "bar", output = out }
  p:update(3, { loss = 1, elapsed = 1 })
  p:close()
  lu.assertEquals(out:str():sub(1, 2), "\r[")
  lu.assertEquals(out:str():sub(-1), "\n")
  lu.assertEquals(progress.clock_str(3725), "1:02:05")
  lu.assertEquals(progress.clock_str(65), "1:05")
  lu.assertEquals(progress.clock_str(math.huge), "--:--")
end
