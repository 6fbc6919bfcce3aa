--[[
A character-level language model of any text file, then a sample from it.

  lunet examples/char_lm.lua FILE [--steps 600] [--d-model 128] ...
  lunet examples/char_lm.lua README.md --steps 300 --sample 300
  lunet examples/char_lm.lua book.txt --save book.safetensors     (checkpoint at the end)
  lunet examples/char_lm.lua book.txt --resume book.safetensors --steps 2000

The vocabulary is the file's distinct characters.  Training shows a
progress bar (plain lines when the output is not a terminal) and, with
--log, writes a CSV; the sample is drawn with model:generate, which runs
the prompt once through the KV cache and then one character at a time.
--resume continues a --save'd run to --steps in total (as the learning
rate schedule counts them, and as PyTorch trainers' max_steps do), on the
same loss curve (same model options required); a checkpoint already at
--steps or past it trains nothing and says so.
]]
local lunet = require "lunet"
local cli = require "lunet.cli"

local FLAGS = {
  { "steps", 600, "optimiser steps in total" },
  { "seq-len", 64, "characters per training window (and the model's context)" },
  { "batch", 32, "windows per batch" },
  { "d-model", 128, "model width" },
  { "layers", 2, "transformer blocks" },
  { "heads", 4, "attention heads" },
  { "attention", "mha", "mha, mqa, gqa, mla or gated" },
  { "lr", 3e-3, "peak learning rate (AdamW, warm-up then cosine)" },
  { "seed", 1, "seed of the model and the data" },
  { "eval-every", 100, "steps between log lines / evaluations" },
  { "eval-batches", 2, "held-out batches per evaluation (the last 10% of the file)" },
  { "sample", 400, "characters to sample after training" },
  { "temperature", 0.8, "sampling temperature" },
  { "top-k", 10, "sample among the k most likely characters (0: all)" },
  { "prompt", "", "text to start the sample with (default: the file's first line)" },
  { "log", "", "CSV log of the training" },
  { "save", "", "checkpoint to write at the end" },
  { "resume", "", "checkpoint to continue from" },
}

local parser = cli.parser("char_lm.lua",
  "A character-level language model of any text file, then a sample from it.")
parser:argument("file", "the text file to learn")
cli.flags(parser, FLAGS)
local o = cli.parse(parser)
local file = o.file

-- a file, checkpoint or setting that does not work: the message (without
-- the position lunet's errors carry) and the usage, exit status 2
local function die(fmt, ...)
  parser:error((string.format(fmt, ...):gsub("^[^\n]-:%d+: ", "")))
end
for _, k in ipairs { "steps", "seq-len", "batch", "d-model", "layers", "heads", "eval-every",
                     "eval-batches", "sample", "top-k", "seed" } do
  local v = math.tointeger(o[k])
  if v == nil or v < 0 or (v == 0 and k ~= "top-k" and k ~= "sample") then
    parser:error(string.format("--%s must be a positive integer, got %s", k, tostring(o[k])))
  end
  o[k] = v
end

-- ---------------------------------------------------------------- data

local function make_task(split)
  return lunet.data.char_lm(file, { seq_len = o["seq-len"], batch_size = o.batch, seed = o.seed,
                                    split = split })
end
local ok, task = pcall(make_task, 0.9)
if not ok then die("%s", task) end
-- a short file has no room for a held-out tenth: evaluate on the text itself
if not pcall(task.eval_batch, task, 1) then
  print("(the file is short: evaluating on the training text)")
  task = make_task(1)
end
print(string.format("%s: %d characters, vocabulary of %d", file, #task.ids, task.vocab_size))

-- ---------------------------------------------------------------- model

lunet.manual_seed(o.seed)
local cfg = { vocab_size = task.vocab_size, d_model = o["d-model"], n_layer = o.layers,
              num_heads = o.heads, max_len = o["seq-len"], attention = o.attention }
if o.attention == "mla" then
  cfg.down_dim, cfg.up_dim = o["d-model"] // 2, o["d-model"]
  cfg.rope_head_dim = math.max(2, (o["d-model"] // o.heads) // 2 // 2 * 2)
end
local made, model = pcall(lunet.nn.TransformerLM, cfg)
if not made then die("%s", model) end
print(string.format("TransformerLM (%s): %d parameters", o.attention, (model:num_parameters())))

local opt = lunet.optim.AdamW(model:parameters(), { lr = o.lr, weight_decay = 0.01 })
local sched = lunet.optim.schedule.warmup_cosine { lr = o.lr, warmup = math.min(100, o.steps // 10),
                                                   total = o.steps, min_lr = o.lr / 10 }
local start = 0
if o.resume ~= "" then
  local loaded, step = pcall(lunet.load_checkpoint, o.resume, { model = model, optimizer = opt,
                                                                data = task })
  if not loaded then die("%s", step) end
  start = step or 0
  print(string.format("resumed from %s at step %d", o.resume, start))
  if start >= o.steps then   -- --steps counts from the start, as the schedule does
    print(string.format("nothing to train: the checkpoint is at step %d and --steps %d is the total "
                        .. "(--steps %d trains %d more)", start, o.steps, start + 100, 100))
  end
end

-- ---------------------------------------------------------------- train

if start < o.steps then
  lunet.train {
    model = model, optimizer = opt, data = task, steps = o.steps - start, start_step = start,
    eval_every = o["eval-every"], eval_batches = o["eval-batches"], schedule = sched, clip = 1.0,
    log = o.log ~= "" and o.log or nil,
  }
end
if o.save ~= "" then
  lunet.save_checkpoint(o.save, { model = model, optimizer = opt, step = math.max(start, o.steps),
                                  data = task })
  print("checkpoint: " .. o.save)
end
local loss, acc = lunet.train.evaluate(model, task, o["eval-batches"])
print(string.format("held-out loss %.4f (%.3f bits/char), next-character accuracy %.3f",
                    loss, loss / math.log(2), acc))

-- ---------------------------------------------------------------- sample

-- the prompt: --prompt, else the file's first line (at most half a context)
local prompt = o.prompt
if prompt == "" then
  local text = task:decode(table.move(task.ids, 1, math.min(#task.ids, o["seq-len"] // 2), 1, {}))
  prompt = text:match("^[^\n]*\n?")
end
local okp, ids = pcall(task.encode, task, prompt)
if not okp then die("%s", ids) end
if #ids == 0 then ids = { task.ids[1] } end

-- The model saw at most seq_len positions, so longer samples slide: keep
-- the last half context as the prompt and generate the next half.
local out, window = {}, o["seq-len"]
for i, id in ipairs(ids) do out[i] = id end
local ctx = {}
for i = math.max(1, #ids - window + 1), #ids do ctx[#ctx + 1] = ids[i] end
local want = #ids + o.sample
while #out < want do
  if #ctx >= window then ctx = table.move(ctx, #ctx - window // 2 + 1, #ctx, 1, {}) end
  local n = math.min(window - #ctx, want - #out)
  local gen = model:generate(ctx, n, { temperature = o.temperature,
                                       top_k = o["top-k"] > 0 and o["top-k"] or nil })
  local row = gen:totable()[1]
  for j = #ctx + 1, #row do
    out[#out + 1] = math.tointeger(row[j])
    ctx[#ctx + 1] = math.tointeger(row[j])
  end
end
print(string.format("\n--- sample (temperature %g, top_k %d) ---", o.temperature, o["top-k"]))
print(task:decode(out))
