--[[
Data-parallel training over Open MPI ranks: the same script runs as one
process or as N, and trains the same model on the same data either way.

  lunet examples/train_distributed.lua                   (one process)
  mpirun -np 2 lunet examples/train_distributed.lua      (2 ranks on this host;
                                                          as root: mpirun --allow-run-as-root ...)
  mpirun --hostfile hosts -np 8 lunet examples/train_distributed.lua   (8 ranks over machines)
  ... --resume            (continue from the checkpoint, on every rank)

--help lists the options.  The last line gives the job's tokens/s and the
CPU time each rank spent per step (all its threads; with --eval 0 that is
training alone).

What happens: dist.init() finds the ranks (rank 0 of 1 without mpirun);
DistributedDataParallel broadcasts rank 0's initial parameters and
averages the gradients over the ranks after each backward; lunet.train
shards the task (rank r trains rows r*b+1..(r+1)*b of each batch) and
prints, logs (out/train_distributed.csv) and checkpoints
(out/train_distributed.safetensors) on rank 0 only, with the whole job's
loss and tokens/s.
]]
local lunet = require "lunet"
local dist = require "lunet.distributed"
local util = require "lunet.util"
local cli = require "lunet.cli"
local nn = lunet.nn

local parser = cli.parser("train_distributed.lua",
  "Data-parallel training of a TransformerLM on MQAR over the ranks of mpirun (or one process).")
cli.flags(parser, {
  { "steps", 300, "optimiser steps", cli.int(1) },
  { "batch", 32, "the global batch: each of N ranks trains batch/N rows", cli.int(1) },
  { "threads", 1, "threads per rank (lunet's pool and OpenBLAS)", cli.int(1) },
  { "d-model", 64, "model width", cli.int(1) },
  { "layers", 2, "transformer blocks", cli.int(1) },
  { "heads", 4, "attention heads", cli.int(1) },
  { "seq-len", 32, "sequence length", cli.int(8) },
  { "lr", 3e-3, "peak learning rate (AdamW, warm-up then cosine)", cli.number(0) },
  { "eval", 2, "held-out batches scored at every logged step (0: none)", cli.int(0) },
  { "out", "out", "where the log and the checkpoint go" },
  { "resume", false, "continue from the checkpoint in --out, on every rank" },
})
local o = cli.parse(parser)

local rank, world = dist.init()
lunet.set_num_threads(o.threads)
lunet.manual_seed(1)
local task = lunet.data.mqar { vocab_size = 32, seq_len = o["seq-len"], num_kv_pairs = 4, batch_size = o.batch,
                               seed = 1 }
local model = dist.DistributedDataParallel(nn.TransformerLM {
  vocab_size = task.vocab_size, d_model = o["d-model"], n_layer = o.layers, num_heads = o.heads,
  max_len = task.seq_len, attention = "gqa" })
local opt = lunet.optim.AdamW(model:param_groups { weight_decay = 0.01 }, { lr = o.lr })

os.execute("mkdir -p '" .. o.out .. "'")
local ckpt = o.out .. "/train_distributed.safetensors"
local start = 0
if o.resume then
  start = lunet.load_checkpoint(ckpt, { model = model, optimizer = opt, data = task })
end
if rank == 0 then
  print(string.format("%d rank(s) x %d thread(s); global batch %d (%d per rank); %s parameters; %s",
                      world, o.threads, o.batch, o.batch // world, util.commas(model:num_parameters()),
                      start > 0 and ("resuming at step " .. start) or "from scratch"))
end

local total = start + o.steps
local cpu = os.clock()
local history = lunet.train {
  model = model, optimizer = opt, data = task, steps = o.steps, start_step = start,
  eval_every = math.max(1, o.steps // 10), eval_batches = o.eval, clip = 1.0,
  schedule = lunet.optim.schedule.warmup_cosine { lr = o.lr, warmup = math.min(30, total // 10), total = total },
  log = o.out .. "/train_distributed.csv", checkpoint = ckpt,
}

local cpu_ms = dist.all_gather((os.clock() - cpu) / o.steps * 1e3)   -- every rank's
if rank == 0 and #history > 1 then
  -- tokens/s after the first logged row (start-up and first touches of memory)
  local tokens, seconds = 0, 0
  for k = 2, #history do
    local dt = history[k].elapsed - history[k - 1].elapsed
    tokens, seconds = tokens + history[k].tokens_per_s * dt, seconds + dt
  end
  local last = history[#history]
  local mean = 0
  for _, ms in ipairs(cpu_ms) do mean = mean + ms / #cpu_ms end
  print(string.format("step %d: loss %.4f, held-out recall %s; %.0f tokens/s over the job; %.0f ms CPU per step "
                      .. "per rank", last.step, last.loss, last.eval_acc and string.format("%.3f", last.eval_acc) or "-",
                      tokens / seconds, mean))
end
