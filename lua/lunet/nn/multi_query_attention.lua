-- nn.MultiQueryAttention{hidden_size, num_heads, dropout=0, head_dim} (alias nn.MQA):
-- seed 002's MQA, multi-head attention whose key and value are one head of
-- head_dim shared by all query heads.
local Module = require "lunet.nn.module"
local MultiHeadAttention = require "lunet.nn.multi_head_attention"

local MultiQueryAttention = MultiHeadAttention:extend("MultiQueryAttention", {
  "hidden_size", "num_heads", "dropout", dropout = 0, head_dim = Module.AUTO,
})

-- the sizes: one key/value head (see MultiHeadAttention:configure)
function MultiQueryAttention:configure(o)
  MultiHeadAttention.configure(self, o, 1)
end

return MultiQueryAttention
