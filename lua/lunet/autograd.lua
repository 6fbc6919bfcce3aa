-- lunet.autograd: what PyTorch's torch.autograd gives beyond
-- x:backward(): grad (gradients without touching .grad) and
-- register_backward_callback (code run after every backward).
local lunet = require "lunet"
local util = require "lunet.util"

local autograd = {}

local grad_of = util.op(lunet._grad, "autograd.grad")

local OPTIONS = { grad_outputs = true, retain_graph = true, allow_unused = true }

local function list_of(what, v)
  if lunet.is_tensor(v) then return { v } end
  if type(v) ~= "table" or #v == 0 then
    util.fail("autograd.grad", "%s must be a tensor or a non-empty list of tensors, got %s", what, type(v))
  end
  for i, t in ipairs(v) do
    if not lunet.is_tensor(t) then
      util.fail("autograd.grad", "%s[%d] is %s, expected a tensor", what, i, type(t))
    end
  end
  return v
end

--[[
lunet.autograd.grad(outputs, inputs, {grad_outputs=, retain_graph=false,
allow_unused=false}) -> {grads}: PyTorch's torch.autograd.grad.  The
gradients of the outputs (a tensor or a list; summed, each weighted by its
grad_outputs entry, which a one-element output may leave out) with
respect to each of inputs (a tensor or a list; leaves or not), as a list
in the inputs' order, without touching any tensor's .grad.  An input the
outputs do not depend on is an error unless allow_unused, which gives nil
for it.  No graph is built through the gradients themselves (lunet has no
higher-order gradients).
]]
function autograd.grad(outputs, inputs, o)
  o = util.check_options("autograd.grad", o or {}, OPTIONS)
  local outs, ins = list_of("outputs", outputs), list_of("inputs", inputs)
  local gouts = o.grad_outputs and list_of("grad_outputs", o.grad_outputs) or {}
  for i, y in ipairs(outs) do
    if not y:requires_grad() then
      util.fail("autograd.grad", "outputs[%d] does not require grad (it depends on no input that does)", i)
    end
    if gouts[i] == nil and y:numel() ~= 1 then
      util.fail("autograd.grad", "outputs[%d] has %d elements: give its grad_outputs", i, y:numel())
    end
  end
  local root, seed
  if #outs == 1 then
    root, seed = outs[1], gouts[1]
  else   -- one root: the sum of each output weighted by its gradient
    root = lunet.enable_grad(function()
      local total
      for i, y in ipairs(outs) do
        local term = gouts[i] and (y * gouts[i]):sum() or y:sum()
        total = total and total + term or term
      end
      return total
    end)
  end
  local grads = grad_of(root, seed, ins, o.retain_graph and true or false)
  for i = 1, #ins do
    if grads[i] == nil and not o.allow_unused then
      util.fail("autograd.grad", "inputs[%d] was not used to compute the outputs "
                .. "(pass {allow_unused=true} to get nil)", i)
    end
  end
  return grads
end

-- the callbacks of register_backward_callback, run after the C backward
local callbacks = {}
local c_backward

local function backward(t, ...)
  c_backward(t, ...)
  for _, fn in ipairs({ table.unpack(callbacks) }) do fn() end   -- a copy: one may remove itself
end

--[[
autograd.register_backward_callback(fn) -> handle: fn() runs after every
x:backward() call, once every gradient is accumulated, until
handle:remove().  Callbacks run in the order they were registered, and an
error in one reaches the caller of backward.  This is where
DistributedDataParallel all-reduces the gradients (PyTorch's DDP hooks
its engine for the same).  The first registration puts a Lua function in
front of the C backward method.
]]
function autograd.register_backward_callback(fn)
  if type(fn) ~= "function" then
    util.fail("autograd.register_backward_callback", "expected a function, got %s", type(fn))
  end
  if c_backward == nil then
    c_backward = util.op(lunet.Tensor.backward)   -- its errors at the user's line
    lunet.Tensor.backward = backward
  end
  callbacks[#callbacks + 1] = fn
  return {
    remove = function()
      for i, f in ipairs(callbacks) do
        if f == fn then table.remove(callbacks, i) return end
      end
    end,
  }
end

return autograd
