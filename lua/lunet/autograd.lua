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
local lunet = require "lunet"
local util = require "lunet.util"

local autograd = {}

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

-- autograd.grad(outputs, inputs [, opts]) -> {grads}: see the top of this file
function autograd.grad(outputs, inputs, o)
  o = util.check_options("autograd.grad", o or {}, OPTIONS)
  local outs, ins = list_of("outputs", outputs), list_of("inputs", inputs)
  local gouts = o.grad_outputs and list_of("grad_outputs", o.grad_outputs) or {}
  local root, seed
  if #outs == 1 then
    root, seed = outs[1], gouts[1]
  else   -- one root: the sum of each output weighted by its gradient
    root = lunet.enable_grad(function()
      local total
      for i, y in ipairs(outs) do
        local term = gouts[i] and (y * gouts[i]):sum() or y:sum()
        if gouts[i] == nil and y:numel() ~= 1 then
          util.fail("autograd.grad", "outputs[%d] has %d elements: give its grad_outputs", i, y:numel())
        end
        total = total and total + term or term
      end
      return total
    end)
  end
  local grads = lunet._grad(root, seed, ins, o.retain_graph and true or false)
  for i = 1, #ins do
    if grads[i] == nil and not o.allow_unused then
      util.fail("autograd.grad", "inputs[%d] was not used to compute the outputs "
                .. "(pass {allow_unused=true} to get nil)", i)
    end
  end
  return grads
end

return autograd
