-- Run by distributed_spec.lua, as one process or under mpirun -np 2:
-- lunet.train on a DistributedDataParallel model, unchanged otherwise
-- (the task is handed over whole: train shards it).  Every rank asks for
-- a log and a checkpoint of its own name, so the spec can see that only
-- rank 0 writes; each rank saves its history and parameters for the spec.
--   lunet train.lua DIR STEPS [resume]
-- resume: first load DIR/ckpt.rank0.safetensors on every rank.
local dist = require "lunet.distributed"
local util = require "lunet.util"
local dir, steps, resume = arg[1], tonumber(arg[2]), arg[3] == "resume"
local rank = dist.init()
lunet.set_num_threads(1)
lunet.manual_seed(1)
local task = lunet.data.mqar { vocab_size = 16, seq_len = 16, num_kv_pairs = 2, batch_size = 8, seed = 5 }
local model = dist.DistributedDataParallel(lunet.nn.TransformerLM {
  vocab_size = 16, d_model = 16, n_layer = 1, num_heads = 2, max_len = 16 })
local opt = lunet.optim.AdamW(model:parameters(), { lr = 1e-2 })
local start = 0
if resume then
  start = lunet.load_checkpoint(dir .. "/ckpt.rank0.safetensors", { model = model, optimizer = opt, data = task })
end
local history = lunet.train {
  model = model, optimizer = opt, data = task, steps = steps, start_step = start, eval_every = 5,
  eval_batches = 1, progress = "lines", log = string.format("%s/log.rank%d.csv", dir, rank),
  checkpoint = string.format("%s/ckpt.rank%d.safetensors", dir, rank),
}
for _, row in ipairs(history) do row.elapsed, row.tokens_per_s = nil, nil end   -- clocks differ
local f = assert(io.open(string.format("%s/history.rank%d", dir, rank), "w"))
f:write(util.serialize(history, "train spec", "a file"))
f:close()
lunet.save(string.format("%s/params.rank%d.safetensors", dir, rank), model:state_dict())
