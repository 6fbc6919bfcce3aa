-- Multi-head attention (seed 002's MHA).
-- The seeds' setup (lib/seed_setup.lua): batch 2, seq 10, hidden 256,
-- 8 heads, the last 5 positions of each sequence masked out.
--   lunet examples/attention_mha.lua
local lunet = require "lunet"
local seed = dofile((arg[0]:match("^(.*/)") or "") .. "lib/seed_setup.lua")
seed.parse_args()

lunet.manual_seed(0)
seed.run(lunet.nn.MultiHeadAttention {
  hidden_size = seed.hidden, num_heads = seed.heads,
})
