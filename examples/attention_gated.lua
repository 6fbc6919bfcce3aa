-- Gated latent attention (seed 000):
-- low-rank keys/values, per-head bias, a gate over heads.
-- The seeds' setup (lib/seed_setup.lua): batch 2, seq 10, hidden 256,
-- 8 heads, the last 5 positions of each sequence masked out.
--   lunet examples/attention_gated.lua
local lunet = require "lunet"
local seed = dofile((arg[0]:match("^(.*/)") or "") .. "lib/seed_setup.lua")
seed.parse_args()

lunet.manual_seed(0)
seed.run(lunet.nn.GatedLatentAttention {
  d_model = seed.hidden, num_heads = seed.heads, latent_rank = 32,
})
