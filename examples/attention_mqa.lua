-- Multi-query attention (seed 002's MQA):
-- one key/value head shared by all query heads.
-- The seeds' setup (lib/seed_setup.lua): batch 2, seq 10, hidden 256,
-- 8 heads, the last 5 positions of each sequence masked out.
--   lunet examples/attention_mqa.lua
local lunet = require "lunet"
local seed = dofile((arg[0]:match("^(.*/)") or "") .. "lib/seed_setup.lua")
seed.parse_args()

lunet.manual_seed(0)
seed.run(lunet.nn.MultiQueryAttention {
  hidden_size = seed.hidden, num_heads = seed.heads,
})
