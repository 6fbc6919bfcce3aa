-- The part every optimiser shares: the parameter list and its groups,
-- hyper-parameters per group (opt.lr reads the first group's and
-- `opt.lr = x` sets every group's, so that is all a schedule needs), per-
-- parameter state, zero_grad, and state_dict / load_state_dict.
--
-- Parameter groups, as PyTorch's: params may be a list of groups
--   { {params = decay_list, weight_decay = 0.1}, {params = others, weight_decay = 0} }
-- each taking the options given to the optimiser (then the defaults) for
-- what it does not set itself; opt.param_groups[i] holds group i's
-- hyper-parameters (and params, its tensors), writable.
-- model:param_groups{weight_decay=} makes the usual two groups.
--
-- A concrete optimiser is a class table with
--   name      "SGD", "Adam", ...
--   hyper     ordered list of hyper-parameter names
--   defaults  their default values
--   check     function(opts) -> nil, or a message naming the bad value
--   slots     names of the state tensors each parameter gets
--   counted   true if the state also holds an integer `step`
--   required_slots  true if every slot must be present in a loaded state
--   step      the update itself
local lunet = require "lunet"
local util = require "lunet.util"

local Optimizer = {}
Optimizer.__index = Optimizer

-- what lunet's own optimisers are made with, not what a user calls: not in
-- the documentation's lists nor in the REPL's completion (see nn.Module)
Optimizer._internal = { new = true, class = true, number = true, check_groups = true, groups = true,
                        stepper = true }

-- Optimizer.stepper(fn): the core update fn (lunet._adam_step, ...) whose
-- errors are raised at the user's line and named for the optimiser
-- ("AdamW: gradient {3} ..."), one wrapper per optimiser name
function Optimizer.stepper(fn)
  return setmetatable({}, { __index = function(t, name)
    t[name] = util.op(fn, name)
    return t[name]
  end })
end

-- params: a list of tensors, or anything with a parameters() method
-- (a module).  A tensor listed twice is stepped once (seen: across groups).
local function collect(name, params, seen, gi)
  if type(params) == "table" and not lunet.is_tensor(params)
      and type(params.parameters) == "function" then
    params = params:parameters()
  end
  if type(params) ~= "table" then
    util.fail(name, "params must be a list of tensors or a module, got %s", type(params))
  end
  local list = {}
  for i, p in ipairs(params) do
    if not lunet.is_tensor(p) then util.fail(name, "params[%d] is %s, expected a tensor", i, type(p)) end
    if not p:is_contiguous() then   -- the update loops run over whole tensors in place
      util.fail(name, "params[%d] %s is not contiguous (an optimiser updates whole tensors in place: "
                .. "make the parameter from x:contiguous())", i, util.shape_str(p))
    end
    if seen[p] and seen[p] ~= gi then
      util.fail(name, "a parameter appears in param groups %d and %d", seen[p], gi)
    end
    if not seen[p] then
      seen[p] = gi
      list[#list + 1] = p
    end
  end
  if #list == 0 then util.fail(name, "got an empty parameter list") end
  return list
end

-- unknown option names are typos: say so rather than silently ignore them
local function settle(class, opts)
  opts = util.check_options(class.name, opts, class.defaults) or {}
  local out = {}
  for k, v in pairs(opts) do out[k] = v end
  for k, v in pairs(class.defaults) do
    if out[k] == nil then out[k] = v end
  end
  return out
end

-- hyper-parameter values are numbers, booleans or small lists (betas):
-- each optimiser gets its own copy of a list
local function copy_hyper(v)
  if type(v) ~= "table" then return v end
  local c = {}
  for i, x in ipairs(v) do c[i] = x end
  return c
end

-- a list of groups {params = ..., <hyper> = ...}, not of tensors?
local function is_groups(params)
  local first = type(params) == "table" and params[1]
  return type(first) == "table" and not lunet.is_tensor(first) and first.params ~= nil
end

-- the groups of params (one group when params is a plain list), each
-- with every hyper-parameter; and the flat parameter list
local function make_groups(class, params, h)
  local given = is_groups(params) and params or { { params = params } }
  local groups, flat, seen = {}, {}, {}
  for gi, g in ipairs(given) do
    if type(g) ~= "table" or lunet.is_tensor(g) then
      util.fail(class.name, "param group %d must be a table {params=, ...}", gi)
    end
    local group = { params = collect(class.name, g.params, seen, gi) }
    util.check_options(class.name .. ": param group " .. gi, g, { "params" }, class.defaults)
    for _, k in ipairs(class.hyper) do
      local v = g[k]
      if v == nil then v = h[k] end
      group[k] = copy_hyper(v)
    end
    local msg = class.check(group)
    if msg then util.fail(class.name, "%s%s", #given > 1 and ("param group " .. gi .. ": ") or "", msg) end
    for _, p in ipairs(group.params) do flat[#flat + 1] = p end
    groups[gi] = group
  end
  return groups, flat
end

function Optimizer.new(class, params, opts)
  local self = setmetatable({}, class)
  local h = settle(class, opts)
  local msg = class.check(h)
  if msg then util.fail(class.name, "%s", msg) end
  self.param_groups, self.params = make_groups(class, params, h)
  self.state = {}          -- state[i] for params[i], created on its first step
  return self
end

-- each group with the numbers (into self.params) of its parameters, for
-- the step loops: for _, g, ids in opt:groups() do ... end
function Optimizer:groups()
  local gi, first = 0, 1
  return function()
    gi = gi + 1
    local g = self.param_groups[gi]
    if g == nil then return nil end
    local ids = {}
    for k = 1, #g.params do ids[k] = first + k - 1 end
    first = first + #g.params
    return gi, g, ids
  end
end

-- nil if every group's hyper-parameters pass check, else the message
function Optimizer:check_groups()
  for gi, g in ipairs(self.param_groups) do
    local msg = self.check(g)
    if msg then return #self.param_groups > 1 and ("param group " .. gi .. ": " .. msg) or msg end
  end
end

-- nil if opts[key] is a number in [lo, hi] (hi optional), else a message
function Optimizer.number(opts, key, lo, hi)
  local v = opts[key]
  if type(v) ~= "number" or v ~= v or v < lo or (hi and v > hi) then
    return string.format("%s must be a number >= %s%s, got %s", key, lo,
                         hi and (" and <= " .. hi) or "", tostring(v))
  end
end

function Optimizer:zero_grad()
  for _, p in ipairs(self.params) do p.grad = nil end
end

function Optimizer:set_lr(lr)
  local msg = Optimizer.number({ lr = lr }, "lr", 0)
  if msg then util.fail(self.name, "set_lr: %s", msg) end
  self.lr = lr             -- every group
  return self
end

function Optimizer:get_lr() return self.lr end

function Optimizer:__tostring()
  local parts = {}
  for _, k in ipairs(self.hyper) do
    local v = self[k]
    if type(v) == "table" then v = "{" .. table.concat(v, ", ") .. "}" end
    parts[#parts + 1] = k .. "=" .. tostring(v)
  end
  local ng = #self.param_groups
  return string.format("%s(%d params%s; %s)", self.name, #self.params,
                       ng > 1 and (" in " .. ng .. " groups, the first's") or "", table.concat(parts, ", "))
end

-- a copy the optimiser owns, so later steps never change a saved dict
local function copy(t)
  return lunet.zeros_like(t):copy_(t)
end

--[[
opt:state_dict() -> a snapshot of the optimiser (tensors are copies):
  { type = "Adam",
    param_groups = { { lr=, betas=, eps=, weight_decay=, params = {1, 2, ..., n} } },
    state = { [i] = { step = k, exp_avg = T, exp_avg_sq = T }, ... } }
state[i] is absent for a parameter that has not been stepped yet.  Like
PyTorch's layout, with 1-based parameter numbers.
]]
function Optimizer:state_dict()
  local groups = {}
  for gi, g, ids in self:groups() do
    local group = { params = ids }
    for _, k in ipairs(self.hyper) do group[k] = copy_hyper(g[k]) end
    groups[gi] = group
  end
  local state = {}
  for i, st in pairs(self.state) do
    local s = {}
    if self.counted then s.step = st.step end
    for _, slot in ipairs(self.slots) do
      if st[slot] then s[slot] = copy(st[slot]) end
    end
    state[i] = s
  end
  return { type = self.name, param_groups = groups, state = state }
end

local function fail(self, fmt, ...)
  util.fail(self.name, "load_state_dict: " .. fmt, ...)
end

local shape_str = util.shape_str

-- opt:load_state_dict(sd): the state state_dict() gave back; validates
-- everything before changing anything, so a bad dict leaves the optimiser
-- as it was.
function Optimizer:load_state_dict(sd)
  if type(sd) ~= "table" then fail(self, "expected a table, got %s", type(sd)) end
  if sd.type ~= nil and sd.type ~= self.name then
    fail(self, "state dict is for %s, not %s", tostring(sd.type), self.name)
  end
  local groups, ng = sd.param_groups, #self.param_groups
  if type(groups) ~= "table" or #groups ~= ng then
    fail(self, "param_groups must be a list of %d group%s", ng, ng == 1 and "" or "s")
  end
  local n, hypers = #self.params, {}
  for gi, own in ipairs(self.param_groups) do
    local group = groups[gi]
    if type(group) ~= "table" then fail(self, "param group %d is not a table", gi) end
    local np = type(group.params) == "table" and #group.params or -1
    if np ~= #own.params then
      if ng == 1 then fail(self, "state dict has %d parameters, optimiser has %d", np, n) end
      fail(self, "param group %d has %d parameters, the optimiser's has %d", gi, np, #own.params)
    end
    local hyper = {}
    for _, k in ipairs(self.hyper) do
      if group[k] == nil then fail(self, "param group lacks '%s'", k) end
      hyper[k] = copy_hyper(group[k])
    end
    for k in pairs(group) do
      if k ~= "params" and hyper[k] == nil then fail(self, "unknown param group key '%s'", tostring(k)) end
    end
    local msg = self.check(hyper)
    if msg then fail(self, "%s", msg) end
    hypers[gi] = hyper
  end

  local known = {}
  for _, slot in ipairs(self.slots) do known[slot] = true end
  if self.counted then known.step = true end
  if type(sd.state) ~= "table" then fail(self, "state must be a table") end
  for i, s in pairs(sd.state) do
    if math.type(i) ~= "integer" or i < 1 or i > n then
      fail(self, "state key %s is not a parameter number 1..%d", tostring(i), n)
    end
    if type(s) ~= "table" then fail(self, "state[%d] is %s, expected a table", i, type(s)) end
    for k in pairs(s) do
      if not known[k] then fail(self, "state[%d] has unknown key '%s'", i, tostring(k)) end
    end
  end
  -- in a fixed order, so the first problem reported is always the same
  local state = {}
  for i = 1, n do
    local s = sd.state[i]
    if s ~= nil then
      local p, st = self.params[i], {}
      if self.counted then
        local v = s.step
        local iv = type(v) == "number" and math.tointeger(v)
        if v == nil then fail(self, "state[%d] lacks 'step'", i) end
        if not iv or iv < 0 then
          fail(self, "state[%d].step must be a non-negative integer, got %s", i, tostring(v))
        end
        st.step = iv
      end
      for _, slot in ipairs(self.slots) do
        local v = s[slot]
        if v == nil then
          if self.required_slots then fail(self, "state[%d] lacks '%s'", i, slot) end
        elseif not lunet.is_tensor(v) then
          fail(self, "state[%d].%s is %s, expected a tensor", i, slot, type(v))
        else
          local a, b = shape_str(v), shape_str(p)
          if a ~= b then
            fail(self, "state[%d].%s has shape %s, parameter %d has %s", i, slot, a, i, b)
          end
          st[slot] = v
        end
      end
      state[i] = st
    end
  end

  for gi, hyper in ipairs(hypers) do
    for k, v in pairs(hyper) do self.param_groups[gi][k] = v end
  end
  self.state = {}
  for i, st in pairs(state) do
    local own = { step = st.step }
    for _, slot in ipairs(self.slots) do
      if st[slot] then own[slot] = copy(st[slot]) end
    end
    self.state[i] = own
  end
  return self
end

-- a subclass: methods from the class, then from Optimizer.  A hyper-
-- parameter read from the optimiser is its first group's; one written is
-- written into every group.
function Optimizer.class(def)
  local hyper = {}
  for _, k in ipairs(def.hyper) do hyper[k] = true end
  def.__index = function(self, k)
    if hyper[k] then return rawget(self, "param_groups")[1][k] end
    return def[k]
  end
  def.__newindex = function(self, k, v)
    if not hyper[k] then return rawset(self, k, v) end
    for _, g in ipairs(self.param_groups) do g[k] = copy_hyper(v) end
  end
  def.__tostring = Optimizer.__tostring
  return setmetatable(def, {
    __index = Optimizer,
    __call = Optimizer.new,
  })
end

return Optimizer
