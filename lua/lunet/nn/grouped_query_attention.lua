-- nn.GroupedQueryAttention{hidden_size, num_heads, group_size=2, dropout=0}
-- (alias nn.GQA): seed 002's GQA.  Query heads come in groups of
-- group_size; each of the num_heads/group_size groups shares one key and
-- value head (query head h reads kv head floor(h / group_size), 0-based,
-- as the seed's expand arranges them).
local MultiHeadAttention = require "lunet.nn.multi_head_attention"

local GroupedQueryAttention = MultiHeadAttention:extend("GroupedQueryAttention", {
  "hidden_size", "num_heads", "group_size", "dropout", group_size = 2, dropout = 0,
})

function GroupedQueryAttention:init(o)
  self:check_positive(o, "num_heads", "group_size")
  if o.num_heads % o.group_size ~= 0 then
    self:fail("num_heads %d is not divisible by group_size %d", o.num_heads, o.group_size)
  end
  self.group_size, self.group_num = o.group_size, o.num_heads // o.group_size
  self:build(o, self.group_num)   -- key, value: Linear(hidden_size, group_num * head_dim)
end

return GroupedQueryAttention
