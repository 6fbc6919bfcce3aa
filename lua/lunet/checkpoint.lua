--[[
Training checkpoints: a model, its optimiser and where training stood, in
ONE safetensors file, so a run can stop and resume on the same loss curve.

  lunet.save_checkpoint(path, {model = m, optimizer = opt, step = 1000,
                               data = task, extra = {best = 0.91}})
  local step, extra = lunet.load_checkpoint(path, {model = m, optimizer = opt,
                                                   data = task})

The file holds
  model.<name>          every tensor of model:state_dict()
  optim.<i>.<slot>      the optimiser's state tensors of parameter i
                        (exp_avg, exp_avg_sq, momentum_buffer)
  extra.<key>           tensors given in extra
and, in __metadata__ (all strings):
  format = "pt", lunet.checkpoint = "1", step
  optim.type, optim.params (the parameter count), optim.<hyper> for each
    hyper-parameter (numbers; booleans as true/false; betas as "[b1,b2]"),
    optim.<i>.step (Adam's per-parameter step counts); with parameter
    groups, optim.group_sizes ("3,2") and optim.g<j>.<hyper> for groups
    j >= 2 (group 1's are optim.<hyper>)
  data.index            the training batches a lunet.data task had drawn
  extra.<key>           "number:..", "string:..", "boolean:.." for scalars
Everything but the tensors' values is readable with any safetensors tool.

lunet.save writes to a temporary file of its own beside path and renames
it over path, so a save that fails or is interrupted leaves the previous
checkpoint as it was, and two processes saving to one path never mix
their files; every value is checked before anything is written.

and the tensor rng_state: the core's random generator (get_rng_state),
restored by load_checkpoint, so a model with dropout resumes on the same
random stream.  The toy tasks' batches are pure functions of (seed, batch number), so
data.index is all a task needs to resume at the right batch.
]]
local lunet = require "lunet"
local util = require "lunet.util"

local checkpoint = {}

local FORMAT = "1"

-- raised at the user's line, like every error of lunet's Lua code
local function fail(fmt, ...)
  util.raise(string.format(fmt, ...))
end

-- the core's save and load, their errors named for the function the user
-- called, at the user's line ("save_checkpoint: run.st: cannot create it: ...")
local save = util.op(lunet.save, "save_checkpoint")
local load = util.op(lunet.load, "load_checkpoint")
local set_rng_state = util.op(lunet.set_rng_state, "load_checkpoint: rng_state")

-- ---------------------------------------------------------------- scalars

-- a number as text that reads back as the same number (and subtype)
local function num_str(v)
  if math.type(v) == "integer" then return tostring(v) end
  if v ~= v or v == math.huge or v == -math.huge then
    return v ~= v and "nan" or (v > 0 and "inf" or "-inf")
  end
  local s
  for digits = 15, 17 do   -- the shortest text that reads back exactly
    s = string.format("%." .. digits .. "g", v)
    if tonumber(s) == v then break end
  end
  if not s:find("[%.eEn]") then s = s .. ".0" end
  return s
end

local function str_num(s)
  if s == "nan" then return 0 / 0 end
  if s == "inf" then return math.huge end
  if s == "-inf" then return -math.huge end
  return tonumber(s)
end

-- optimiser hyper-parameters: numbers, booleans, or lists of numbers
local function hyper_str(k, v)
  if type(v) == "number" then return num_str(v) end
  if type(v) == "boolean" then return tostring(v) end
  if type(v) == "table" then
    local parts = {}
    for i, x in ipairs(v) do
      if type(x) ~= "number" then
        fail("save_checkpoint: optimiser hyper-parameter %s[%d] is a %s, not a number", k, i, type(x))
      end
      parts[i] = num_str(x)
    end
    return "[" .. table.concat(parts, ",") .. "]"
  end
  fail("save_checkpoint: optimiser hyper-parameter %s is a %s", k, type(v))
end

local function str_hyper(path, k, s)
  if s == "true" then return true end
  if s == "false" then return false end
  if s:sub(1, 1) == "[" and s:sub(-1) == "]" then
    local list = {}
    for item in s:sub(2, -2):gmatch("[^,]+") do
      local x = str_num(item)
      if x == nil then fail("load_checkpoint: %s: bad optim.%s '%s'", path, k, s) end
      list[#list + 1] = x
    end
    return list
  end
  local x = str_num(s)
  if x == nil then fail("load_checkpoint: %s: bad optim.%s '%s'", path, k, s) end
  return x
end

local function extra_str(k, v)
  local t = type(v)
  if t == "number" then return "number:" .. num_str(v) end
  if t == "string" then return "string:" .. v end
  if t == "boolean" then return "boolean:" .. tostring(v) end
  fail("save_checkpoint: extra.%s is a %s (tensors, numbers, strings and booleans are saved)",
       tostring(k), t)
end

local function str_extra(path, k, s)
  local t, v = s:match("^(%a+):(.*)$")
  if t == "string" then return v end
  if t == "boolean" and (v == "true" or v == "false") then return v == "true" end
  if t == "number" and str_num(v) then return str_num(v) end
  fail("load_checkpoint: %s: bad value for extra.%s: '%s'", path, k, s)
end

-- ---------------------------------------------------------------- save

local OPTIONS = { "model", "optimizer", "step", "extra", "data" }

local function check_opts(op, path, o)
  if type(path) ~= "string" then fail("%s: path must be a string, got %s", op, type(path)) end
  if type(o) ~= "table" then fail("%s: expected an options table, got %s", op, type(o)) end
  util.check_options(op, o, OPTIONS)
  if o.model ~= nil and (type(o.model) ~= "table" or type(o.model.state_dict) ~= "function") then
    fail("%s: model must be a module, got %s", op, type(o.model))
  end
  if o.optimizer ~= nil and (type(o.optimizer) ~= "table"
                             or type(o.optimizer.state_dict) ~= "function") then
    fail("%s: optimizer must be an optimiser, got %s", op, type(o.optimizer))
  end
end

--[[
save_checkpoint(path, {model=, optimizer=, step=, data=, extra=}): every
part optional.  extra is a table of string keys to tensors, numbers,
strings or booleans.
]]
function checkpoint.save_checkpoint(path, o)
  check_opts("save_checkpoint", path, o)
  local tensors = {}
  local meta = { format = "pt", ["lunet.checkpoint"] = FORMAT }
  if o.step ~= nil then
    if math.type(o.step) ~= "integer" or o.step < 0 then
      fail("save_checkpoint: step must be an integer >= 0, got %s", tostring(o.step))
    end
    meta.step = tostring(o.step)
  end
  if o.model then
    for name, t in pairs(o.model:state_dict()) do tensors["model." .. name] = t end
  end
  if o.optimizer then
    local opt = o.optimizer
    local sd = opt:state_dict()
    local n, sizes = 0, {}
    meta["optim.type"] = tostring(sd.type)
    for j, group in ipairs(sd.param_groups) do
      local prefix = j == 1 and "optim." or string.format("optim.g%d.", j)
      n, sizes[j] = n + #group.params, #group.params
      for k, v in pairs(group) do
        if k ~= "params" then meta[prefix .. k] = hyper_str(k, v) end
      end
    end
    meta["optim.params"] = tostring(n)
    if #sizes > 1 then meta["optim.group_sizes"] = table.concat(sizes, ",") end
    for i, st in pairs(sd.state) do
      for k, v in pairs(st) do
        if lunet.is_tensor(v) then tensors[string.format("optim.%d.%s", i, k)] = v
        elseif k == "step" then meta[string.format("optim.%d.step", i)] = num_str(v)
        else fail("save_checkpoint: optimiser state[%d].%s is a %s", i, k, type(v)) end
      end
    end
  end
  if o.data ~= nil then
    local index = type(o.data) == "table" and o.data.index
    if math.type(index) ~= "integer" then
      fail("save_checkpoint: data must be a lunet.data task (with .index), got %s", type(o.data))
    end
    meta["data.index"] = tostring(index)
  end
  if o.extra ~= nil then
    if type(o.extra) ~= "table" then
      fail("save_checkpoint: extra must be a table, got %s", type(o.extra))
    end
    for k, v in pairs(o.extra) do
      if type(k) ~= "string" then
        fail("save_checkpoint: extra keys must be strings, got a %s", type(k))
      end
      if lunet.is_tensor(v) then tensors["extra." .. k] = v
      else meta["extra." .. k] = extra_str(k, v) end
    end
  end
  tensors.rng_state = lunet.get_rng_state()
  -- lunet.save checks every name and value before it opens anything, and
  -- writes through a temporary file of its own and a rename
  save(path, tensors, meta)
end

-- ---------------------------------------------------------------- load

local function integer(path, meta, key)
  local v = meta[key]
  local n = v and math.tointeger(tonumber(v))
  if n == nil or n < 0 then
    fail("load_checkpoint: %s: %s must be an integer >= 0, got %s", path, key, tostring(v))
  end
  return n
end

-- an error message without the "file.lua:12: " position in front
local function unplace(err)
  err = tostring(err)
  return err:match("^[^\n]-:%d+: (.*)$") or err
end

-- the optimiser state dict the file holds, in Optimizer:state_dict's layout
local function optim_dict(path, tensors, meta, opt)
  if meta["optim.type"] == nil then
    fail("load_checkpoint: %s holds no optimiser state", path)
  end
  local n = integer(path, meta, "optim.params")
  local sizes, groups, first = { n }, {}, 1
  if meta["optim.group_sizes"] then
    sizes = {}
    for v in meta["optim.group_sizes"]:gmatch("[^,]+") do sizes[#sizes + 1] = math.tointeger(tonumber(v)) end
  end
  for j, size in ipairs(sizes) do
    if size == nil or size < 0 or first + size - 1 > n then
      fail("load_checkpoint: %s: bad optim.group_sizes '%s'", path, meta["optim.group_sizes"])
    end
    groups[j] = { params = {} }
    for i = first, first + size - 1 do groups[j].params[#groups[j].params + 1] = i end
    first = first + size
  end
  for k, s in pairs(meta) do
    local j, hk = k:match("^optim%.g(%d+)%.([%a_][%w_]*)$")
    if not j then hk = k:match("^optim%.([%a_][%w_]*)$") end
    local g = groups[tonumber(j) or 1]
    if hk and hk ~= "type" and hk ~= "params" and hk ~= "group_sizes" then
      if g == nil then fail("load_checkpoint: %s: %s names a group the file does not have", path, k) end
      g[hk] = str_hyper(path, hk, s)
    end
  end
  local state = {}
  local function entry(i)
    if i < 1 or i > n then
      fail("load_checkpoint: %s: optimiser state for parameter %d of %d", path, i, n)
    end
    state[i] = state[i] or {}
    return state[i]
  end
  for k, s in pairs(meta) do
    local i = k:match("^optim%.(%d+)%.step$")
    if i then entry(tonumber(i)).step = integer(path, meta, k) end
  end
  for k, t in pairs(tensors) do
    local i, slot = k:match("^optim%.(%d+)%.(.+)$")
    if i then entry(tonumber(i))[slot] = t
    elseif k:match("^optim%.") then fail("load_checkpoint: %s: unexpected tensor '%s'", path, k) end
  end
  return { type = meta["optim.type"], param_groups = groups, state = state }
end

--[[
load_checkpoint(path, {model=, optimizer=, data=}) -> step, extra: loads
what it is given; the model must match the saved one exactly (names and
shapes), the optimiser its type and parameter count.  data (a lunet.data
task) is moved to the saved batch index.  Nothing is changed when any part
does not fit.
]]
function checkpoint.load_checkpoint(path, o)
  o = o or {}
  check_opts("load_checkpoint", path, o)
  local tensors, meta = load(path)
  if meta["lunet.checkpoint"] == nil then
    fail("load_checkpoint: %s is not a lunet checkpoint (no lunet.checkpoint in its metadata)", path)
  end
  local model_sd, extra = {}, {}
  for k, t in pairs(tensors) do
    local name = k:match("^model%.(.+)$")
    if name then model_sd[name] = t end
    local ek = k:match("^extra%.(.+)$")
    if ek then extra[ek] = t end
  end
  for k, s in pairs(meta) do
    local ek = k:match("^extra%.(.+)$")
    if ek then extra[ek] = str_extra(path, ek, s) end
  end
  local step = meta.step and integer(path, meta, "step") or nil
  local data_index
  if o.data ~= nil then
    if type(o.data) ~= "table" or math.type(o.data.index) ~= "integer" then
      fail("load_checkpoint: data must be a lunet.data task (with .index), got %s", type(o.data))
    end
    data_index = integer(path, meta, "data.index")
  end
  -- the random generator first (set_rng_state checks the state), then the
  -- optimiser: it validates everything before it changes.  If a later part
  -- refuses, the earlier ones get their old state back, so a failed load
  -- leaves everything as it was
  local dict = o.optimizer and optim_dict(path, tensors, meta, o.optimizer)
  local rng = lunet.get_rng_state()
  if tensors.rng_state then set_rng_state(tensors.rng_state) end
  local opt, old
  if o.optimizer then
    opt = o.optimizer
    old = opt:state_dict()
    local ok, err = pcall(opt.load_state_dict, opt, dict)
    if not ok then
      lunet.set_rng_state(rng)
      fail("load_checkpoint: %s: %s", path, unplace(err))
    end
  end
  if o.model then
    local ok, err = pcall(o.model.load_state_dict, o.model, model_sd)
    if not ok then
      if opt then opt:load_state_dict(old) end
      lunet.set_rng_state(rng)
      fail("load_checkpoint: %s: %s", path, unplace(err))
    end
  end
  if data_index then
    if type(o.data.reset) == "function" then o.data:reset(data_index)
    else o.data.index = data_index end
  end
  return step, extra
end

return checkpoint
