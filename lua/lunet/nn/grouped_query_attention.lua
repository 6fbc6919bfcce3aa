-- nn.GroupedQueryAttention{hidden_size, num_heads, group_size=2, dropout=0, head_dim}
-- (alias nn.GQA): seed 002's GQA.  Query heads come in groups of
-- group_size; each of the num_heads/group_size groups shares one key and
-- value head (query head h reads kv head floor(h / group_size), 0-based,
-- as the seed's expand arranges them).
local Module = require "lunet.nn.module"
local MultiHeadAttention = require "lunet.nn.multi_head_attention"

local GroupedQueryAttention = MultiHeadAttention:extend("GroupedQueryAttention", {
  "hidden_size", "num_heads", "group_size", "dropout", group_size = Module.AUTO, dropout = 0,
  head_dim = Module.AUTO,
})

-- the width rule: groups of 2 query heads (the seed's) when num_heads is
-- even, else 1 (every query head its own kv head)
function GroupedQueryAttention.default_group_size(num_heads)
  return num_heads % 2 == 0 and 2 or 1
end

-- the sizes: num_heads / group_size key/value heads (see MultiHeadAttention:configure)
function GroupedQueryAttention:configure(o)
  self:check_positive(o, "num_heads")
  local g = o.group_size or self.default_group_size(o.num_heads)
  self:check_positive({ group_size = g }, "group_size")
  if o.num_heads % g ~= 0 then
    self:fail("num_heads %d is not divisible by group_size %d", o.num_heads, g)
  end
  self.group_size, self.group_num = g, o.num_heads // g
  MultiHeadAttention.configure(self, o, self.group_num)
end

return GroupedQueryAttention
