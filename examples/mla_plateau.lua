--[[
Why does the seed's MLA stay on the MQAR plateau?  One training run per
call, with the knobs the investigation in README.md ("Why MLA stays on
the plateau") turned; it prints the held-out recall every --eval-every
steps and the first step at 0.9.

  lunet examples/mla_plateau.lua                              (the seed's MLA, lr 1e-3)
  lunet examples/mla_plateau.lua --gain 1.732                 (variance-preserving init)
  lunet examples/mla_plateau.lua --gain 1.732 --gain-on content --down-dim 128 --up-dim 128
  lunet examples/mla_plateau.lua --variant mha --qk-gain 0.333
  lunet examples/mla_plateau.lua --scale standard --latent-norm --rope standard

The default setting is the earlier demo's: MQAR vocab 32, seq_len 32, 4
key-value pairs; d_model 128, 2 layers, 4 heads, mlp_ratio 2; AdamW with
warm-up (a tenth) and cosine decay, batch 32, 1500 steps, one thread.
]]
local lunet = require "lunet"
local nn = lunet.nn
local heads = require "lunet.nn.heads"

local cli = require "lunet.cli"
local parser = cli.parser("mla_plateau.lua",
  "One MQAR training run of an attention variant, with the knobs of README.md's " ..
  "\"Why MLA stays on the plateau\"; prints held-out recall and the first step at 0.9.")
cli.flags(parser, {
  { "variant", "mla", "mha, mqa, gqa, mla or gated" },
  { "lr", 1e-3, "peak learning rate (AdamW, warm-up then cosine)" },
  { "steps", 1500, "optimiser steps", cli.int(1) },
  { "seed", 1, "seed of the model and the data", cli.int(0) },
  { "d-model", 128, "model width", cli.int(1) },
  { "layers", 2, "transformer blocks", cli.int(1) },
  { "heads", 4, "attention heads", cli.int(1) },
  { "vocab", 32, "MQAR vocabulary", cli.int(1) },
  { "seq-len", 32, "MQAR sequence length", cli.int(1) },
  { "kv-pairs", 4, "MQAR key-value pairs", cli.int(1) },
  { "batch", 32, "sequences per batch", cli.int(1) },
  { "eval-every", 100, "steps between evaluations", cli.int(1) },
  { "gain", 1, "MLA: init gain of the latent projections" },
  { "gain-on", "all", "MLA: which projections get --gain: all, content or rope" },
  { "qk-gain", 1, "MHA and others: init gain of query and key" },
  { "scale", "seed", "MLA softmax scale: seed or standard (1/sqrt(q head dim))" },
  { "rope", "seed", "MLA RoPE table layout: seed or standard" },
  { "latent-norm", false, "MLA: RMSNorm on both latents (DeepSeek-V2's)" },
  { "down-dim", nil, "MLA latent width (default: the width rule)", cli.int(1) },
  { "up-dim", nil, "MLA content dims (default: the width rule)", cli.int(1) },
  { "positions", "auto", "auto, learned or none" },
})
local o = cli.parse(parser)
lunet.set_num_threads(1)

-- --scale standard: softmax scale 1/sqrt(q head dim) for MLA instead of the
-- seed's 1/(sqrt(hidden/heads) + sqrt(rope_head_dim))
if o.scale == "standard" then
  local attend = heads.attend
  heads.attend = function(m, q, k, v, mask, causal, scale)
    if m.rope_head_dim then scale = 1 / math.sqrt(q:size(-1)) end
    return attend(m, q, k, v, mask, causal, scale)
  end
end

lunet.manual_seed(o.seed)
local task = lunet.data.mqar { vocab_size = o.vocab, seq_len = o["seq-len"], num_kv_pairs = o["kv-pairs"],
                               batch_size = o.batch, seed = o.seed }
local cfg = { vocab_size = o.vocab, d_model = o["d-model"], n_layer = o.layers, num_heads = o.heads,
              max_len = o["seq-len"], attention = o.variant, mlp_ratio = 2, positions = o.positions }
if o.variant == "mla" then
  cfg.down_dim, cfg.up_dim = o["down-dim"] or nil, o["up-dim"] or nil
  cfg.rope_seed_layout = o.rope ~= "standard"
end
local model = nn.TransformerLM(cfg)

-- init gains: each nn.Linear starts uniform in +-1/sqrt(in) (PyTorch's,
-- the seeds'), which shrinks a signal's variance by 3; MLA's latent paths
-- pass two of them in a row
-- (--gain-on content: the latent and up projections; rope: the RoPE branch's)
local LATENT = {
  content = { "down_proj_kv", "down_proj_q", "up_proj_k", "up_proj_v", "up_proj_q" },
  rope = { "proj_qr", "proj_kr" },
  all = { "down_proj_kv", "down_proj_q", "up_proj_k", "up_proj_v", "up_proj_q", "proj_qr", "proj_kr" },
}
lunet.no_grad(function()
  for _, b in ipairs(model.blocks) do
    local names = o.variant == "mla" and LATENT[o["gain-on"]] or { "query", "key" }
    local g = o.variant == "mla" and o.gain or o["qk-gain"]
    for _, n in ipairs(names) do b.attn[n].weight:copy_(b.attn[n].weight * g) end
  end
end)
-- --latent-norm: an RMSNorm after each down projection, as DeepSeek-V2 has
if o["latent-norm"] then
  for _, b in ipairs(model.blocks) do
    b.attn.down_proj_kv = nn.Sequential(b.attn.down_proj_kv, nn.RMSNorm(b.attn.down_dim))
    b.attn.down_proj_q = nn.Sequential(b.attn.down_proj_q, nn.RMSNorm(b.attn.down_dim))
  end
end

local opt = lunet.optim.AdamW(model:parameters(), { lr = o.lr, weight_decay = 0.01 })
local sched = lunet.optim.schedule.warmup_cosine { lr = o.lr, warmup = o.steps // 10, total = o.steps,
                                                   min_lr = o.lr / 10 }
local hist = lunet.train { model = model, optimizer = opt, data = task, steps = o.steps,
                           eval_every = o["eval-every"], eval_batches = 2, schedule = sched, clip = 1.0,
                           quiet = true }
local curve, first = {}, nil
for _, h in ipairs(hist) do
  curve[#curve + 1] = string.format("%d:%.2f", h.step, h.eval_acc)
  if not first and h.eval_acc >= 0.9 then first = h.step end
end
local args = {}
for k = 1, #arg do args[k] = arg[k] end
print(string.format("%s [%s] params %d: recall %.3f, loss %.3f, 0.9 at %s\n  %s", o.variant,
                    table.concat(args, " "), model:num_parameters(), hist[#hist].eval_acc,
                    hist[#hist].eval_loss, first and ("step " .. first) or "--", table.concat(curve, " ")))
