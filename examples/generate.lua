-- Decoding with a KV cache: a tiny random TransformerLM per attention
-- variant continues the same prompt by 10 tokens (greedy, then sampled),
-- and each layer's cache says how many floats it keeps per token.
-- The models are untrained, so the tokens are noise; the point is the
-- API and the cache sizes (MLA keeps down_dim + rope_head_dim).
--   lunet examples/generate.lua
local lunet = require "lunet"
local cli = require "lunet.cli"
cli.parse(cli.parser("generate.lua", "Decoding with a KV cache: each attention variant continues a prompt."))
local nn = lunet.nn

local variants = {
  { "mha", {} },
  { "mqa", {} },
  { "gqa", { group_size = 2 } },
  { "mla", { down_dim = 16, up_dim = 32, rope_head_dim = 8 } },
  { "gated", { latent_rank = 4 } },   -- latent_rank < head_dim: the cache keeps the latents
}

local function ids_str(t)
  local parts = {}
  for _, v in ipairs(t) do parts[#parts + 1] = string.format("%d", v) end
  return table.concat(parts, " ")
end

local prompt = lunet.tensor { { 1, 2, 3, 4, 5 } }
for _, v in ipairs(variants) do
  lunet.manual_seed(0)
  local o = { vocab_size = 32, d_model = 64, n_layer = 2, num_heads = 4, attention = v[1] }
  for k, val in pairs(v[2]) do o[k] = val end
  local model = nn.TransformerLM(o)
  local greedy = model:generate(prompt, 10, { greedy = true })
  local sampled = model:generate(prompt, 10, { temperature = 0.8, top_k = 8, seed = 1 })
  local cache = model:new_cache()
  local per_layer = {}
  for i, c in ipairs(cache.layers) do per_layer[i] = c:floats_per_token() end
  print(string.format("%-5s greedy : %s", v[1], ids_str(greedy:totable()[1])))
  print(string.format("%-5s sampled: %s", "", ids_str(sampled:totable()[1])))
  print(string.format("%-5s KV cache: %s floats per token per layer (%d in all)", "",
                      table.concat(per_layer, ", "), cache:floats_per_token()))
end
