--[[
How fast the ranks all-reduce gradients, in the terms of the README's
communication model:

  mpirun -np 2 lunet examples/bench_allreduce.lua          (as root: --allow-run-as-root)

For each size it times dist.all_reduce(t, "mean") of a float32 tensor of
that many bytes, the way DistributedDataParallel reduces one bucket, and
prints the time per call and two rates (as NCCL's tests do): algbw =
bytes / time, what a training step sees, and busbw = algbw x 2(N-1)/N,
the bytes each rank's link carries in a ring all-reduce per second, which
is what to compare with the link's speed.
]]
local lunet = require "lunet"
local dist = require "lunet.distributed"
local util = require "lunet.util"
local cli = require "lunet.cli"

local parser = cli.parser("bench_allreduce.lua", "Times dist.all_reduce of 0.25 to 64 MB between the ranks.")
cli.flags(parser, { { "max-mb", 64, "the largest tensor, in MB", cli.number(0.25) } })
local o = cli.parse(parser)

local rank, n = dist.init()
if n == 1 then print("one process: nothing to all-reduce (run it under mpirun -np 2 or more)") return end
local cells = { { "bytes", "ms per all_reduce", "algbw GB/s", "busbw GB/s" } }
local mb = 0.25
while mb <= o["max-mb"] do
  local t = lunet.ones { math.floor(mb * 2 ^ 20 / 4) }
  local reps = math.max(3, math.floor(64 / mb))
  dist.all_reduce(t, "mean")          -- the first call sets up the buffers
  dist.barrier()
  local t0 = lunet._now()
  for _ = 1, reps do dist.all_reduce(t, "mean") end
  dist.barrier()
  local s = (lunet._now() - t0) / reps
  local bytes = t:numel() * 4
  cells[#cells + 1] = { util.commas(bytes), string.format("%.3f", s * 1e3), string.format("%.2f", bytes / s / 1e9),
                        string.format("%.2f", bytes / s / 1e9 * 2 * (n - 1) / n) }
  mb = mb * 4
end
if rank == 0 then
  print(string.format("%d ranks (%s)", n, dist.backend()))
  print(util.text_table(cells, { left = 0, rule = true }))
end
