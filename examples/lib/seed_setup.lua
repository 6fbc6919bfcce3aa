-- The seeds' setup shared by the attention_*.lua examples: batch 2,
-- seq 10, hidden 256, 8 heads, the last 5 positions of each sequence
-- masked out.  Not an example itself: an example loads it from beside
-- itself with
--   local seed = dofile((arg[0]:match("^(.*/)") or "") .. "lib/seed_setup.lua")
-- so it runs from any directory, and seed.parse_args() reads its (empty)
-- command line as every example does (-h/--help, usage errors).
local lunet = require "lunet"
local cli = require "lunet.cli"

-- run by itself it would do nothing: say what to run instead
if arg and arg[0] and arg[0]:match("seed_setup%.lua$") then
  io.stderr:write("seed_setup.lua is the attention examples' shared setup, not an example: run ",
                  "examples/attention_mha.lua (or _mqa, _gqa, _mla, _gated)\n")
  os.exit(2)
end

local seed = { batch = 2, seq = 10, hidden = 256, heads = 8, keep = 5 }

-- the example's command line: none, but -h/--help and usage errors as all have
function seed.parse_args()
  cli.parse(cli.parser(arg[0]:match("[^/]*$"), "Builds the attention module with the seeds' " ..
                       "configuration (batch 2, seq 10, hidden 256, 8 heads, the last 5 positions " ..
                       "masked) and prints its tree, output shape and parameter count."))
end

-- run attn on a random {batch, seq, hidden} input under the seeds' mask
-- and print the module tree, the output shape and the parameter count
function seed.run(attn)
  local x = lunet.randn { seed.batch, seed.seq, seed.hidden }
  local mask = lunet.ones { seed.batch, seed.seq }
  for b = 1, seed.batch do
    for s = seed.keep + 1, seed.seq do mask:set({ b, s }, 0) end
  end
  local out = attn(x, mask)
  print(attn)
  print("output shape: {" .. table.concat(out:shape(), ", ") .. "}")
  print("parameters:   " .. attn:num_parameters())
end

return seed
