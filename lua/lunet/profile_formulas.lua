-- lunet.profile_formulas: the building blocks of the analytic cost
-- formulas the attention modules give in their costs() methods.
--
-- Each helper adds one op's cost to a tally, by the same conventions the
-- C counters (src/core/profile.h) charge as the op runs, so a module's formula
-- and a measured run agree exactly (spec/profile_spec.lua checks it):
--
--   forward_flops    2 per multiply-add of a product, 1 per element of
--                    an elementwise op, 5 per element of a softmax, 3 of
--                    RoPE; the fused attention 2*D + 2*Dv + 5 per
--                    (query, key) pair it works on
--   backward_flops   the products and elementwise work of each backward
--                    (fused attention: 6*D + 4*Dv + 6 per pair, since it
--                    recomputes the scores rather than storing them), and
--                    the adds that sum a tensor's gradients from several
--                    uses.  Not counted: summing a broadcast gradient back
--                    to its input's shape (a bias's or expand's gradient)
--                    and accumulating into a leaf's .grad
--   linear_macs      thop's number: multiply-accumulates of nn.Linear
--                    layers only, biases not counted
--   attention_flops  the fused attention op's share of forward_flops
--   activations      bytes of storage the autograd graph keeps alive from
--                    forward to backward: each op's output that a later op
--                    consumes (views share their source's storage, so add
--                    nothing); a linear adds its bias in the product, so it
--                    keeps nothing more, except on an input whose rows do
--                    not fold into one run (the heads of a transposed
--                    view), where matmul's product before the bias is kept
--
-- All sizes are element counts; activations are returned in bytes.
local F = {}

local FLOAT = 4   -- bytes per element: lunet's tensors are float32

function F.new()
  return { params = 0, linear_macs = 0, forward_flops = 0, attention_flops = 0,
           backward_flops = 0, activations = 0 }
end

-- nn.Linear on M rows, K -> N features.  x_grad: its input needs a
-- gradient (then backward does two products, else only the weight's).
-- The output is counted as kept unless it is the module's last (out=false).
function F.linear(c, M, K, N, bias, x_grad, out)
  c.params = c.params + K * N + (bias and N or 0)
  c.linear_macs = c.linear_macs + M * K * N
  c.forward_flops = c.forward_flops + 2 * M * K * N + (bias and M * N or 0)
  c.backward_flops = c.backward_flops + 2 * M * K * N * (x_grad and 2 or 1)
  if out ~= false then F.kept(c, M * N) end
end

-- a batched product {.., M, K} @ {.., K, N} over `batch` matrices; both
-- operands need gradients
function F.matmul(c, batch, M, K, N)
  c.forward_flops = c.forward_flops + 2 * batch * M * K * N
  c.backward_flops = c.backward_flops + 4 * batch * M * K * N
  F.kept(c, batch * M * N)
end

-- the fused lunet.attention over `heads` (batch * heads) query heads of S
-- queries and T keys, key dim D, value dim Dv.  causal: only the visible
-- pairs are worked on.  q, k, v are inputs (counted where made); the
-- output is kept.
function F.attention(c, heads, S, T, D, Dv, causal)
  local pairs = S * T
  if causal then   -- query i (of the last S of T positions) sees i + T - S + 1 keys
    pairs = 0
    for i = 0, S - 1 do pairs = pairs + math.max(0, math.min(T, i + T - S + 1)) end
  end
  local fwd = heads * pairs * (2 * D + 2 * Dv + 5)
  c.forward_flops = c.forward_flops + fwd
  c.attention_flops = c.attention_flops + fwd
  c.backward_flops = c.backward_flops + heads * pairs * (6 * D + 4 * Dv + 6)
  F.kept(c, heads * S * Dv)
end

-- lunet.rope over n elements (3 flops each way); its output is kept
function F.rope(c, n)
  c.forward_flops = c.forward_flops + 3 * n
  c.backward_flops = c.backward_flops + 3 * n
  F.kept(c, n)
end

-- softmax over n elements (5 flops each forward, 4 backward); kept
function F.softmax(c, n)
  c.forward_flops = c.forward_flops + 5 * n
  c.backward_flops = c.backward_flops + 4 * n
  F.kept(c, n)
end

-- an elementwise op with n output elements: `fwd` flops per element
-- forward, `bwd` backward; kept unless kept == false
function F.elementwise(c, n, fwd, bwd, kept)
  c.forward_flops = c.forward_flops + fwd * n
  c.backward_flops = c.backward_flops + bwd * n
  if kept ~= false then F.kept(c, n) end
end

-- the adds that sum the gradients of a tensor of n elements used `uses` times
function F.gradient_sum(c, n, uses)
  c.backward_flops = c.backward_flops + (uses - 1) * n
end

-- n elements of storage that the graph keeps alive until backward
function F.kept(c, n)
  c.activations = c.activations + FLOAT * n
end

-- the parameters a module owns outside its Linear layers
function F.params(c, n)
  c.params = c.params + n
end

return F
