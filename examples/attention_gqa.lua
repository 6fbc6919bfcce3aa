-- Grouped-query attention (seed 002's GQA):
-- 4 groups of 2 query heads, one key/value head each.
-- The seeds' setup (lib/seed_setup.lua): batch 2, seq 10, hidden 256,
-- 8 heads, the last 5 positions of each sequence masked out.
--   lunet examples/attention_gqa.lua
local lunet = require "lunet"
local seed = dofile((arg[0]:match("^(.*/)") or "") .. "lib/seed_setup.lua")
seed.parse_args()

lunet.manual_seed(0)
seed.run(lunet.nn.GroupedQueryAttention {
  hidden_size = seed.hidden, num_heads = seed.heads, group_size = 2,
})
