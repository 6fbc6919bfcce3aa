--[[
dist.DistributedDataParallel(model [, {bucket_cap_mb = 25}]): data-parallel
training over the ranks of lunet.distributed, as PyTorch's DDP.

  local dist = require "lunet.distributed"
  dist.init()
  local model = dist.DistributedDataParallel(nn.TransformerLM{...})
  local opt = lunet.optim.AdamW(model:parameters(), {lr = 1e-3})
  task:shard(dist.rank(), dist.world_size())   -- lunet.train does this for you
  ... loss = f(model(x)); opt:zero_grad(); loss:backward(); opt:step()

At wrap time every rank compares its parameters' names and shapes with
rank 0's (an error names the first that differs, on every rank alike),
then rank 0's parameters and buffers are broadcast, so every replica
starts the same.  After each backward() of a forward through the wrapper
(with gradients enabled), the gradients are all-reduced and averaged over
the ranks: in a few large flat buckets (parameters in order, up to
bucket_cap_mb megabytes each), one MPI message per bucket, not one per
tensor.  Every rank then holds the same gradients and its optimiser
takes the same step.  A parameter without a gradient on some ranks gets
the average of those that have one; one unused on every rank keeps none.

The wrapper's parameter names and state dict are the model's own (no
"module." prefix as in PyTorch), so a checkpoint saved by N ranks loads
into one process and back; model.module is the wrapped model.
ddp:no_sync(fn, ...) (or `local _ <close> = ddp:no_sync()`) runs
backwards without the all-reduce, for gradient accumulation: the next
synchronised backward averages everything accumulated.  One backward per
forward, as with PyTorch's DDP.  With one process it only forwards.
]]
local lunet = require "lunet"
local util = require "lunet.util"
local Module = require "lunet.nn.module"
local autograd = require "lunet.autograd"
local dist = require "lunet.distributed"

local DDP = Module:extend("DistributedDataParallel", { "module", bucket_cap_mb = 25 })
DDP.data_parallel = true      -- lunet.train looks for it (dist.training)

-- the wrappers whose forward ran since their last synchronised backward;
-- each has a number in the order of wrapping, the same on every rank, and
-- they synchronise in that order (a table's own order could differ)
local armed = setmetatable({}, { __mode = "k" })
local wrapped = 0

-- "{64,32}" lines naming every parameter and buffer, in order
local function signature(m)
  local sig = {}
  for name, p in m:named_parameters() do sig[#sig + 1] = { "parameter", name, util.shape_str(p) } end
  for name, b in m:named_buffers() do sig[#sig + 1] = { "buffer", name, util.shape_str(b) } end
  return sig
end

local function describe(e) return string.format("%s '%s' %s", e[1], e[2], e[3]) end

-- the first difference between rank 0's signature and another's, or nil
local function first_difference(sigs)
  local ref = sigs[1]
  for r = 2, #sigs do
    local sig = sigs[r]
    for i = 1, math.max(#ref, #sig) do
      local a, b = ref[i], sig[i]
      if a == nil then
        return string.format("rank %d has a %s that rank 0 has not (%d tensors against %d)",
                             r - 1, describe(b), #sig, #ref)
      elseif b == nil then
        return string.format("rank %d lacks rank 0's %s (%d tensors against %d)", r - 1, describe(a),
                             #sig, #ref)
      elseif a[1] ~= b[1] or a[2] ~= b[2] then
        return string.format("tensor %d is rank 0's %s but rank %d's %s", i, describe(a), r - 1, describe(b))
      elseif a[3] ~= b[3] then
        return string.format("%s '%s' is %s on rank 0 but %s on rank %d", a[1], a[2], a[3], b[3], r - 1)
      end
    end
  end
  return nil
end

-- the parameters that take gradients, in order, in buckets of at most cap
-- bytes (a larger parameter is a bucket of its own)
local function buckets(params, cap)
  local list, cur, bytes = {}, nil, 0
  for _, p in ipairs(params) do
    local nb = p:numel() * 4
    if cur == nil or (bytes + nb > cap and #cur.params > 0) then
      cur, bytes = { params = {} }, 0
      list[#list + 1] = cur
    end
    cur.params[#cur.params + 1] = p
    bytes = bytes + nb
  end
  return list
end

function DDP:init(o)
  if not Module.is_module(o.module) then self:fail("module must be a module, got %s", type(o.module)) end
  if type(o.bucket_cap_mb) ~= "number" or not (o.bucket_cap_mb > 0) then
    self:fail("bucket_cap_mb must be a number > 0, got %s", tostring(o.bucket_cap_mb))
  end
  dist.init()
  wrapped = wrapped + 1
  self.id = wrapped
  self.module = o.module
  local world = dist.world_size()
  local trainable = {}
  for _, p in ipairs(o.module:parameters()) do
    if p:requires_grad() then trainable[#trainable + 1] = p end
  end
  self.buckets = buckets(trainable, o.bucket_cap_mb * 1024 * 1024)
  self.sync = true
  if world > 1 then
    local why = first_difference(dist.all_gather(signature(o.module)))
    if why then self:fail("the replicas differ: %s", why) end
    local all = o.module:parameters()
    for _, b in ipairs(buckets(all, o.bucket_cap_mb * 1024 * 1024)) do dist.broadcast(b.params, 0) end
    local bufs = o.module:buffers()
    if #bufs > 0 then dist.broadcast(bufs, 0) end
  end
end

function DDP:forward(...)
  if self.sync and lunet.is_grad_enabled() then armed[self] = true end
  return self.module(...)
end

-- ddp:sync_gradients(): average the gradients of every bucket over the
-- ranks now (backward does it after a forward through the wrapper)
function DDP:sync_gradients()
  for _, b in ipairs(self.buckets) do
    local grads, had, spare = {}, {}, {}
    for i, p in ipairs(b.params) do
      local g = p.grad
      if g ~= nil and not g:is_contiguous() then p.grad = g:contiguous(); g = p.grad end
      had[i] = g ~= nil and 1 or 0
      if g == nil then spare[i] = lunet.zeros_like(p); g = spare[i] end
      grads[i] = g
    end
    local flags = lunet.tensor(had)
    grads[#grads + 1] = flags
    dist.all_reduce(grads, "mean")
    for i, p in ipairs(b.params) do
      if spare[i] and flags[i] > 0 then p.grad = spare[i] end
    end
  end
end

-- after every backward: the wrappers a forward armed
autograd.register_backward_callback(function()
  if next(armed) == nil then return end
  local list = {}
  for m in pairs(armed) do list[#list + 1] = m end
  table.sort(list, function(a, b) return a.id < b.id end)
  for _, m in ipairs(list) do
    armed[m] = nil
    if dist.world_size() > 1 then m:sync_gradients() end
  end
end)

--[[
ddp:no_sync(fn, ...) -> fn's results: run fn with the all-reduce off, for
gradient accumulation (the next synchronised backward averages everything
accumulated); ddp:no_sync() without fn returns a value whose closing
turns it back on: `local _ <close> = ddp:no_sync()`.
]]
function DDP:no_sync(fn, ...)
  local prev = self.sync
  self.sync = false
  local restore = util.defer(function() self.sync = prev end)
  if fn == nil then return restore end
  local _ <close> = restore
  return fn(...)
end

-- the wrapped model's named_parameters(): its own names, no "module." prefix
function DDP:named_parameters() return self.module:named_parameters() end

-- the wrapped model's named_buffers(), under its own names
function DDP:named_buffers() return self.module:named_buffers() end

-- the wrapped model's state_dict(), so a checkpoint moves between 1 and N ranks
function DDP:state_dict() return self.module:state_dict() end

-- the wrapped model's load_state_dict(sd [, {strict = true}])
function DDP:load_state_dict(sd, opts) return self.module:load_state_dict(sd, opts) end

return DDP
