-- nn.MultiQueryAttention{hidden_size, num_heads, dropout=0} (alias nn.MQA):
-- seed 002's MQA, multi-head attention whose key and value are one head of
-- head_dim shared by all query heads.
local MultiHeadAttention = require "lunet.nn.multi_head_attention"

local MultiQueryAttention = MultiHeadAttention:extend("MultiQueryAttention", {
  "hidden_size", "num_heads", "dropout", dropout = 0,
})

function MultiQueryAttention:init(o)
  self:build(o, 1)   -- key, value: Linear(hidden_size, head_dim)
end

return MultiQueryAttention
