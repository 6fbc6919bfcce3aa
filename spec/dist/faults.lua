-- Run by distributed_spec.lua under mpirun -np 2 with one of
--   raise     rank 1 raises a Lua error while rank 0 waits in a collective
--   exit      rank 1 calls os.exit(3) while rank 0 waits
--   mismatch  rank 1 builds a narrower model and both wrap it in DDP
--   ok        nothing goes wrong (both print "faults ok on rank R")
-- Every case but ok must end every rank, with rank 1's message, and
-- never hang.
local dist = require "lunet.distributed"
local case = arg[1]
local rank = dist.init()
if case == "raise" then
  if rank == 1 then error("rank 1 gives up on purpose") end
  dist.all_reduce(lunet.ones { 4 })   -- waits for rank 1, who never comes
elseif case == "exit" then
  if rank == 1 then os.exit(3) end
  dist.barrier()
elseif case == "mismatch" then
  local width = rank == 0 and 16 or 8
  dist.DistributedDataParallel(lunet.nn.TransformerLM { vocab_size = 16, d_model = width, n_layer = 1,
                                                        num_heads = 2, max_len = 16 })
elseif case ~= "ok" then
  error("unknown case " .. tostring(case))
end
print("faults " .. case .. " ok on rank " .. rank)
