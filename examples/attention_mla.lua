-- Multi-head latent attention (seed 002's MLA): low-rank latents and a
-- decoupled RoPE branch.
-- The seeds' setup (lib/seed_setup.lua): batch 2, seq 10, hidden 256,
-- 8 heads, the last 5 positions of each sequence masked out.
--   lunet examples/attention_mla.lua
local lunet = require "lunet"
local seed = dofile((arg[0]:match("^(.*/)") or "") .. "lib/seed_setup.lua")
seed.parse_args()

lunet.manual_seed(0)
-- the seed's defaults: down_dim 64, up_dim 128, rope_head_dim 26
seed.run(lunet.nn.MultiHeadLatentAttention {
  hidden_size = seed.hidden, num_heads = seed.heads,
})
