-- Gated latent attention (seed 000):
-- low-rank keys/values, per-head bias, a gate over heads.
-- The seeds' setup: batch 2, seq 10, hidden 256, 8 heads, the last 5
-- positions of each sequence masked out.
--   lunet examples/attention_gated.lua
local lunet = require "lunet"
local nn = lunet.nn

lunet.manual_seed(0)
local attn = nn.GatedLatentAttention { d_model = 256, num_heads = 8, latent_rank = 32 }

local x = lunet.randn { 2, 10, 256 }
local mask = lunet.ones { 2, 10 }
for b = 1, 2 do for s = 6, 10 do mask:set({ b, s }, 0) end end

local out = attn(x, mask)
print(attn)
print("output shape: {" .. table.concat(out:shape(), ", ") .. "}")
print("parameters:   " .. attn:num_parameters())
