-- Run by distributed_spec.lua, once as one process and once under
-- mpirun -np 2: STEPS (50) AdamW steps of a small TransformerLM on MQAR
-- with a global batch of 8 (one process: all 8 rows; 2 ranks: 4 each,
-- the task sharded), then the parameters to OUT (rank 0) and
-- OUT.rank<r> (the other ranks, to show that the replicas agree).
--   lunet ddp_equal.lua OUT [STEPS]
--
-- The attention's key bias is frozen.  Its exact gradient is zero (a
-- softmax ignores what a query adds to every score alike), so in floats
-- it is rounding noise, and Adam, which divides by the gradient's own
-- scale, turns noise into full steps: it differs between any two orders
-- of summation (1 rank or 2, 1 thread or 2), not only here.
local dist = require "lunet.distributed"
local nn = lunet.nn
local out, steps = arg[1], tonumber(arg[2] or 50)
local rank, world = dist.init()
lunet.set_num_threads(1)
lunet.manual_seed(7 + rank)     -- a different model on every rank: the broadcast must fix it
local task = lunet.data.mqar { vocab_size = 16, seq_len = 16, num_kv_pairs = 2, batch_size = 8, seed = 3 }
task:shard(rank, world)
local net = nn.TransformerLM { vocab_size = 16, d_model = 16, n_layer = 2, num_heads = 2, max_len = 16,
                               attention = "gqa" }
for name, p in net:named_parameters() do
  if name:match("attn%.key%.bias$") then p:requires_grad(false) end
end
local model = dist.DistributedDataParallel(net)
local opt = lunet.optim.AdamW(model:parameters(), { lr = 3e-3 })
-- count the all-reduces: one per bucket per step, not one per tensor
local reduces, all_reduce = 0, dist.all_reduce
dist.all_reduce = function(...) reduces = reduces + 1; return all_reduce(...) end
for _ = 1, steps do
  local x, y, m = task:batch()
  assert(x:size(1) == 8 // world, "the per-rank batch is 8 / world_size")
  local loss = lunet.cross_entropy(model(x), y * m, { ignore_index = 0 })
  opt:zero_grad()
  loss:backward()
  opt:step()
end
local want = world > 1 and steps * #model.buckets or 0
assert(#model.buckets == 1 and reduces == want,
       string.format("%d all-reduces for %d steps and %d buckets", reduces, steps, #model.buckets))
lunet.save(rank == 0 and out or (out .. ".rank" .. rank), model:state_dict())
