-- What every attention module shares: input and mask checks, splitting
-- and merging heads, and the call into the fused attention op.
local lunet = require "lunet"
local Module = require "lunet.nn.module"

local heads = {}

-- x must be {B, S, width}
function heads.check_input(m, x, width, what)
  if not lunet.is_tensor(x) then m:fail("input must be a tensor, got %s", type(x)) end
  if x:dim() ~= 3 then
    m:fail("input %s must be {batch, seq, %d}", Module.shape_str(x), width)
  end
  if x:size(3) ~= width then
    m:fail("input width %d does not match %s %d", x:size(3), what, width)
  end
end

-- the seeds' padding mask: nil, or {B, S} with 1 = keep, 0 = masked key
function heads.check_mask(m, mask, B, S)
  if mask == nil then return end
  if not lunet.is_tensor(mask) then m:fail("mask must be a tensor {batch, seq}, got %s", type(mask)) end
  local shape = mask:shape()
  if #shape ~= 2 or shape[1] ~= B or shape[2] ~= S then
    m:fail("mask has shape %s, expected {%d,%d} (batch, seq)", Module.shape_str(mask), B, S)
  end
end

-- the call options {causal=true}: nil or a table
function heads.causal(m, opts)
  if opts == nil then return false end
  if type(opts) ~= "table" then m:fail("options must be a table such as {causal=true}, got %s", type(opts)) end
  return opts.causal and true or false
end

-- {B, S, n*D} -> {B, n, S, D} (a view)
function heads.split(t, n)
  local B, S, W = t:size(1), t:size(2), t:size(3)
  return t:view { B, S, n, W // n }:transpose(2, 3)
end

-- {B, H, S, D} -> {B, S, H*D}
function heads.merge(t)
  local B, H, S, D = t:size(1), t:size(2), t:size(3), t:size(4)
  return t:transpose(2, 3):reshape { B, S, H * D }
end

-- softmax(q k^T * scale [masked]) v by the fused op, with the module's
-- attention dropout (m.dropout, a Dropout) while training.  q {B,H,S,D},
-- k {B,Hk,T,D}, v {B,Hk,T,Dv}: Hk divides H and the op shares each kv
-- head among H/Hk query heads itself.  scale nil means 1/sqrt(D).
-- A query whose keys are all masked gets all-zero weights from the op (so
-- a zero context and zero gradients; PyTorch would give NaN there).
function heads.attend(m, q, k, v, mask, causal, scale)
  return lunet.attention(q, k, v, {
    mask = mask, causal = causal, scale = scale, dropout = m.dropout:rate(),
  })
end

return heads
