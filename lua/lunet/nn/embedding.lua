-- nn.Embedding{num_embeddings, embedding_dim}: a lookup table of rows,
-- indexed by 1-based ids.
local lunet = require "lunet"
local Module = require "lunet.nn.module"

local embedding = Module.op(lunet.embedding)

local Embedding = Module:extend("Embedding", { "num_embeddings", "embedding_dim" })

function Embedding:init(o)
  self:check_positive(o, "num_embeddings", "embedding_dim")
  self.num_embeddings, self.embedding_dim = o.num_embeddings, o.embedding_dim
  -- PyTorch's default: N(0, 1)
  self.weight = Module.Parameter(lunet.randn { o.num_embeddings, o.embedding_dim })
end

-- ids: a tensor (any shape) of ids in 1 .. num_embeddings -> {..., embedding_dim}
function Embedding:forward(ids)
  return embedding(ids, self.weight)
end

function Embedding:extra_repr()
  return string.format("%d, %d", self.num_embeddings, self.embedding_dim)
end

return Embedding
