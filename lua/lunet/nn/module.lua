-- nn.Module: the base class of every layer and model.
--
-- A class is made with Module:extend(name, spec) and instantiated by
-- calling it.  spec lists the constructor's options: its array part gives
-- the positional order, its hash part the defaults (Module.AUTO: worked
-- out by init from the others), and every positional name without a
-- default is required.  So for
--
--   local Linear = Module:extend("Linear", {"in_features", "out_features", "bias", bias = true})
--
-- nn.Linear(4, 3), nn.Linear{4, 3} and nn.Linear{in_features=4, out_features=3}
-- all reach Linear:init(o) with o = {in_features=4, out_features=3, bias=true}.
-- Unknown options are errors (see parse_options for classes that hand
-- options on to the parts they build).  A subclass without a spec of its
-- own inherits its parent's; Module:extend(name) on Module itself makes a
-- class whose init gets the constructor's arguments as given.
--
-- Inside init, `self.foo = <module>` registers a submodule and
-- `self.foo = <leaf tensor that requires grad>` a parameter, as in PyTorch
-- (self:register_buffer(name, t) a buffer: state, not a parameter):
-- the instance keeps them out of its own table so every assignment passes
-- through __newindex.  Parameters come out of named_parameters() and
-- state_dict() in PyTorch's order: a module's own parameters in
-- registration order, then each submodule's in registration order.
local lunet = require "lunet"
local util = require "lunet.util"

local Module = {}
Module.__name = "Module"
Module.__module = true      -- looked up through a class: marks modules

-- Module.is_module(v) -> true if v is a module instance (or class)
local function is_module(v)
  local mt = type(v) == "table" and getmetatable(v)
  return type(mt) == "table" and mt.__module == true
end
Module.is_module = is_module

local shape_str = util.shape_str
Module.shape_str = shape_str

-- Names for the REPL's completion and lunet.doc.  _internal: machinery
-- of lunet's own layers (callable by a subclass, but neither documented in
-- the index nor completed).  _class_only: what makes and writes classes
-- (documented under nn.Module), not listed among a module's methods
-- (help(m)) nor completed on one (m:<TAB>).
Module._internal = { check_positive = true, format_options = true, parse_options = true,
                     module_path = true, collect_state = true, shape_str = true }
Module._class_only = { extend = true, init = true, op = true, keys = true, is_module = true,
                       fail = true, AUTO = true, Parameter = true, spec = true }

-- nn.Parameter(t): a leaf that requires grad, sharing t's storage
function Module.Parameter(t)
  return t:detach():requires_grad(true)
end

-- ---------------------------------------------------------------- errors
--
-- An error in a model's forward is reported at the user's line -- the
-- line outside lunet's files that called into the library -- and names the
-- submodule that failed by its path from the outermost module running,
-- e.g.
--
--   train.lua:42: in TransformerLM.blocks[2].attn.query: linear: input
--   {1,3,8} does not match weight {8,4} (in_features 4)
--
-- Nothing is caught on the way: __call runs forward as a plain call, so
-- a message handler (debug.traceback in xpcall, the lunet program's) sees
-- every frame, the user's among them.  The path is read off the stack
-- itself when the error is raised: every module running has a __call
-- frame whose first local is the module (see module_path), so calls cost
-- nothing extra to track.  Two kinds of error get there:
--   * lunet's Lua code raises through Module:fail (or util.fail), which
--     adds the position and the path;
--   * the core's C ops name the op and the values but, called from a
--     layer, would point at the layer's line.  The layers call them
--     through Module.op(fn), which raises their message again at the
--     user's line with the path.  Only the C function's own frame is left
--     out of the traceback.

-- While lunet.profile counts, calls go through profiling.call, which
-- charges the module's work to its own scope; otherwise the cost of
-- profiling is this one field test.
local profiling = { on = false }
Module._profiling = profiling

local function pass(...) return ... end

-- the __call functions: one per class (so a traceback names the class,
-- e.g. 'lunet.nn.linear.__call'), all of the same code
local call_frames = setmetatable({}, { __mode = "k" })

-- module(...) runs module:forward(...).  Not as a tail call: the __call
-- frame stays on the stack while forward runs, which is how module_path
-- finds the modules running (one more call, no allocation, nothing caught).
local call_hooked   -- (hooks section below)

local function new_call()
  local function call(self, ...)
    if rawget(self, "_hooks") then return pass(call_hooked(self, ...)) end
    if profiling.on then return pass(profiling.call(self, ...)) end
    return pass(self.forward(self, ...))
  end
  call_frames[call] = true
  return call
end
Module.__call = new_call()

-- "[2]" for the child named "1" of a ModuleList (named from 0 as in
-- PyTorch, indexed from 1 in Lua), ".name" for any other
local function step_name(name)
  if name:match("^%d+$") then return "[" .. (tonumber(name) + 1) .. "]" end
  return "." .. name
end

-- the path from module `from` down to its descendant `to` (nil if none)
local function relative_path(from, to, depth)
  for _, name in ipairs(from._module_names) do
    local child = from._modules[name]
    if child == to then return step_name(name) end
    if depth < 8 then
      local rest = relative_path(child, to, depth + 1)
      if rest then return step_name(name) .. rest end
    end
  end
  return nil
end

-- The modules whose forward is running, outermost first, read from the
-- __call frames on the stack, and their path: "TransformerLM.blocks[2].attn".
-- A module that is not below the previous one (made on the fly, say) starts
-- a new segment "... > Linear".
function Module.module_path()
  local chain, level = {}, 2
  while true do
    local info = debug.getinfo(level, "f")
    if info == nil then break end
    if call_frames[info.func] then
      local _, m = debug.getlocal(level, 1)
      if chain[1] ~= m then table.insert(chain, 1, m) end
    end
    level = level + 1
  end
  if #chain == 0 then return nil, 0 end
  local path = chain[1]:class_name()
  for i = 2, #chain do
    path = path .. (relative_path(chain[i - 1], chain[i], 1) or " > " .. chain[i]:class_name())
  end
  return path, #chain
end

-- msg with "in <path>: " in front when the module failing is nested in
-- another (a module called directly is named by msg itself)
local function with_path(msg)
  local path, depth = Module.module_path()
  if depth < 2 then return msg end
  return "in " .. path .. ": " .. msg
end

-- m:class_name() -> the class's name, e.g. "Linear"
function Module:class_name()
  return getmetatable(self).__name
end

-- raise "<Class>: <message>" at the user's line, naming the module path
function Module:fail(fmt, ...)
  error(with_path(self:class_name() .. ": " .. string.format(fmt, ...)), util.user_level())
end

-- Module.op(fn): the core op fn, whose errors are raised at the user's
-- line with the module path (see above; util.op without the path).  The
-- layers call the core's ops through it:  local linear = Module.op(lunet.linear)
function Module.op(fn)
  return util.op(fn, with_path)
end

-- each named option must be a positive integer
function Module:check_positive(o, ...)
  for i = 1, select("#", ...) do
    local name = select(i, ...)
    local v = o[name]
    if math.type(v) ~= "integer" or v <= 0 then
      self:fail("%s must be a positive integer, got %s", name, tostring(v))
    end
  end
end

-- ---------------------------------------------------------------- classes

-- A spec default of Module.AUTO: the option is optional and init works
-- its value out from the others (an attention's sizes from its width).
Module.AUTO = setmetatable({}, { __name = "Module.AUTO", __tostring = function() return "auto" end })

-- The options table a spec'd class's init receives.  Unknown options are
-- errors (util.check_options' message, with a did-you-mean).  A class
-- that hands options on to parts it builds sets extra_options to a
-- function(o) -> the further names it accepts given o (or nil when o
-- cannot tell, e.g. an unknown attention name, which init reports), or to
-- true to let anything through to init.
function Module.parse_options(cls, ...)
  local spec, name = cls.spec, cls.__name
  local n, first = select("#", ...), ...
  local o, given = {}, {}
  local function too_many(count)
    util.fail(name, "%d positional options given, at most %d", count, #spec)
  end
  if n == 1 and type(first) == "table" and not is_module(first) and not lunet.is_tensor(first) then
    for k, v in pairs(first) do
      if math.type(k) == "integer" then given[#given + 1] = k
      else o[k] = v end
    end
    table.sort(given)
    if given[#given] and given[#given] > #spec then too_many(given[#given]) end
    if given[1] and given[1] < 1 then util.fail(name, "bad positional option index %d", given[1]) end
    for _, i in ipairs(given) do
      if o[spec[i]] ~= nil then
        util.fail(name, "option '%s' given both by position and by name", spec[i])
      end
      o[spec[i]] = first[i]
    end
  else
    if n > #spec then too_many(n) end
    for i = 1, n do o[spec[i]] = (select(i, ...)) end
  end
  local more = cls.extra_options
  for k, v in pairs(spec) do
    if type(k) == "string" and o[k] == nil and v ~= Module.AUTO then o[k] = v end
  end
  if type(more) == "function" then more = more(o) end
  if more ~= true and more ~= nil then util.check_options(name, o, spec, more)
  elseif not cls.extra_options then util.check_options(name, o, spec) end
  for _, k in ipairs(spec) do
    if o[k] == nil and spec[k] ~= Module.AUTO then util.fail(name, "missing option '%s'", k) end
  end
  return o
end

local function construct(cls, ...)
  local self = setmetatable({
    _attrs = {},                          -- plain fields (training, sizes, caches)
    _params = {}, _param_names = {},      -- name -> tensor, and the order
    _buffers = {}, _buffer_names = {},    -- likewise (register_buffer), and which
    _buffer_persistent = {},              -- of them state_dict saves
    _modules = {}, _module_names = {},    -- name -> module, and the order
  }, cls)
  self.training = true
  if cls.spec then self:init(cls:parse_options(...))
  else self:init(...) end
  return self
end

-- the metamethods each class carries for its instances
local INSTANCE_META = { "__index", "__newindex", "__call", "__tostring", "__len" }

-- Module:extend(name [, spec]) -> a new class (see the top of this file):
--   local Scale = nn.Module:extend("Scale", {"dim", gain = 1})
-- then Scale:init(o) builds it and Scale:forward(...) computes.
function Module:extend(name, spec)
  local cls = setmetatable({}, { __index = self, __call = construct })
  cls.__name = name
  local where = debug.getinfo(2, "Sl")   -- for lunet.doc: the comment above this call
  cls.__defined = { source = where.source, line = where.currentline }
  cls.spec = spec
  for _, k in ipairs(INSTANCE_META) do cls[k] = self[k] end
  cls.__call = new_call()
  return cls
end

function Module:init() end

function Module:forward()
  self:fail("forward is not implemented")
end

-- ---------------------------------------------------------------- instances

function Module.__index(self, k)
  local v = self._attrs[k]
  if v ~= nil then return v end
  v = self._params[k]
  if v ~= nil then return v end
  v = self._buffers[k]
  if v ~= nil then return v end
  v = self._modules[k]
  if v ~= nil then return v end
  return getmetatable(self)[k]
end

local function drop_name(list, name)
  for i, n in ipairs(list) do
    if n == name then table.remove(list, i) return end
  end
end

local function check_name(self, name, what)
  if type(name) ~= "string" or name == "" or name:find(".", 1, true) then
    self:fail("%s name must be a non-empty string without '.', got %s", what, tostring(name))
  end
end

-- forget name in every category but keep
local function unregister(self, name, keep)
  if keep ~= "param" and self._params[name] ~= nil then
    self._params[name] = nil
    drop_name(self._param_names, name)
  end
  if keep ~= "module" and self._modules[name] ~= nil then
    self._modules[name] = nil
    drop_name(self._module_names, name)
  end
  if keep ~= "buffer" and self._buffers[name] ~= nil then
    self._buffers[name] = nil
    drop_name(self._buffer_names, name)
  end
  if keep ~= "attr" then self._attrs[name] = nil end
end

-- v under name in store (name -> value) and order (the names in
-- registration order), forgotten in every other category; v nil: removed
local function place(self, name, v, kind, store, order)
  unregister(self, name, v ~= nil and kind or nil)
  if v == nil then return end
  if store[name] == nil then table.insert(order, name) end
  store[name] = v
end

-- "tensor" for a tensor, else the Lua type: what a message calls a value
local function kind_of(v)
  return lunet.is_tensor(v) and "tensor" or type(v)
end

-- What already holds name, other than a `kind` (PyTorch's register_buffer,
-- register_parameter and add_module refuse to take a name over from an
-- attribute of another kind; assignment, self.name = v, replaces it).
local function holder(self, name, kind)
  if kind ~= "param" and self._params[name] ~= nil then return "a parameter" end
  if kind ~= "buffer" and self._buffers[name] ~= nil then return "a buffer" end
  if kind ~= "module" and self._modules[name] ~= nil then return "a submodule" end
  if self._attrs[name] ~= nil then return "an attribute" end
  if getmetatable(self)[name] ~= nil then return "a method of " .. self:class_name() end
  return nil
end

local function check_free(self, method, name, t, kind)
  local h = t ~= nil and holder(self, name, kind)
  if h then
    self:fail("%s: '%s' is already %s (self.%s = nil removes it; or choose another name)",
              method, name, h, name)
  end
end

-- the registrations themselves, shared by the register_* methods and
-- assignment (which may replace a name of another kind)
local function set_parameter(self, name, t)
  check_name(self, name, "parameter")
  if t ~= nil and not (lunet.is_tensor(t) and t.is_leaf) then
    self:fail("parameter '%s' must be a leaf tensor, got %s", name,
              lunet.is_tensor(t) and "a non-leaf tensor" or type(t))
  end
  place(self, name, t, "param", self._params, self._param_names)
end

local function set_module(self, name, m)
  check_name(self, name, "module")
  if m ~= nil and not is_module(m) then
    self:fail("submodule '%s' must be a module, got %s", name, kind_of(m))
  end
  place(self, name, m, "module", self._modules, self._module_names)
end

local function set_buffer(self, name, t, opts)
  check_name(self, name, "buffer")
  if t ~= nil and not lunet.is_tensor(t) then
    self:fail("buffer '%s' must be a tensor, got %s", name, type(t))
  end
  place(self, name, t, "buffer", self._buffers, self._buffer_names)
  if t ~= nil then self._buffer_persistent[name] = not (opts and opts.persistent == false) end
end

-- m:register_parameter(name, p): register (or with nil, remove) a
-- parameter; any leaf tensor will do, one that does not require grad is a
-- frozen parameter.  A name that is
-- already a buffer, a submodule, an attribute or a method is an error
-- (as in PyTorch): assignment, self.name = p, replaces it instead.
function Module:register_parameter(name, t)
  check_free(self, "register_parameter", name, t, "param")
  set_parameter(self, name, t)
end

-- m:add_module(name, child): register (or with nil, remove) a submodule,
-- as self.name = child does, except that a name held by a parameter, a
-- buffer, an attribute or a method is an error (as in PyTorch)
function Module:add_module(name, m)
  check_free(self, "add_module", name, m, "module")
  set_module(self, name, m)
end

function Module.__newindex(self, k, v)
  if self._buffers[k] ~= nil and lunet.is_tensor(v) then
    set_buffer(self, k, v, { persistent = self._buffer_persistent[k] })
  elseif is_module(v) then
    set_module(self, k, v)
  elseif lunet.is_tensor(v) and v.is_leaf and (v:requires_grad() or self._params[k] ~= nil) then
    set_parameter(self, k, v)
  elseif v == nil then
    unregister(self, k)
  elseif self._params[k] ~= nil then
    self:fail("cannot assign a non-leaf %s to parameter '%s'", kind_of(v), k)
  elseif self._modules[k] ~= nil then
    self:fail("cannot assign a %s to submodule '%s' (a module, or nil to remove it)", kind_of(v), k)
  else
    self._attrs[k] = v
  end
end

-- ---------------------------------------------------------------- traversal

-- {name, value} pairs of the whole tree, depth first, in PyTorch's order;
-- shared tensors/modules appear once unless keep_dups
local function collect_params(m, prefix, out, seen)
  for _, name in ipairs(m._param_names) do
    local p = m._params[name]
    if seen == nil or not seen[p] then
      if seen then seen[p] = true end
      out[#out + 1] = { prefix .. name, p }
    end
  end
  for _, name in ipairs(m._module_names) do
    collect_params(m._modules[name], prefix .. name .. ".", out, seen)
  end
  return out
end

local function collect_modules(m, prefix, out, seen)
  if seen[m] then return out end
  seen[m] = true
  out[#out + 1] = { prefix, m }
  for _, name in ipairs(m._module_names) do
    collect_modules(m._modules[name], prefix == "" and name or prefix .. "." .. name, out, seen)
  end
  return out
end

-- a generic-for iterator over {name, value} pairs
local function iterate(list)
  local i = 0
  return function()
    i = i + 1
    local e = list[i]
    if e then return e[1], e[2] end
  end
end

local function values(list)
  local out = {}
  for i, e in ipairs(list) do out[i] = e[2] end
  return out
end

-- for name, p in m:named_parameters() do ... end   ("up_proj_k.weight", ...)
function Module:named_parameters()
  return iterate(collect_params(self, "", {}, {}))
end

-- m:parameters() -> the parameters as a list (each shared tensor once), for optimisers
function Module:parameters()
  return values(collect_params(self, "", {}, {}))
end

-- for name, m in model:named_modules() do ... end: self first, named ""
function Module:named_modules()
  return iterate(collect_modules(self, "", {}, {}))
end

-- m:modules() -> the module and every submodule, depth first, each once
function Module:modules()
  return values(collect_modules(self, "", {}, {}))
end

-- for name, child in m:named_children() do ... end: direct submodules
function Module:named_children()
  local list = {}
  for _, name in ipairs(self._module_names) do list[#list + 1] = { name, self._modules[name] } end
  return iterate(list)
end

-- m:children() -> the direct submodules, in registration order
function Module:children()
  local list = {}
  for i, name in ipairs(self._module_names) do list[i] = self._modules[name] end
  return list
end

-- fn(m) on every submodule, children before parents, as in PyTorch
function Module:apply(fn)
  for _, name in ipairs(self._module_names) do self._modules[name]:apply(fn) end
  fn(self)
  return self
end

-- m:num_parameters() -> total and trainable (requires_grad) element counts
function Module:num_parameters()
  local total, trainable = 0, 0
  for _, p in ipairs(self:parameters()) do
    total = total + p:numel()
    if p:requires_grad() then trainable = trainable + p:numel() end
  end
  return total, trainable
end

-- m:train([mode=true]) -> m: training mode (dropout on) for m and every
-- submodule; m:train(false) is m:eval()
function Module:train(mode)
  if mode == nil then mode = true end
  for _, m in ipairs(self:modules()) do m.training = mode and true or false end
  return self
end

-- m:eval() -> m: evaluation mode for m and every submodule
function Module:eval()
  return self:train(false)
end

-- m:zero_grad(): every parameter's .grad dropped (nil)
function Module:zero_grad()
  for _, p in ipairs(self:parameters()) do p.grad = nil end
end

-- ---------------------------------------------------------------- state

-- A state dict is a plain name -> tensor table (so lunet.save takes it as
-- it is; a tied tensor appears under each of its names, as in PyTorch);
-- pairs() walks it in registration order, and Module.keys(sd) lists that
-- order.
local StateDict = { __name = "StateDict" }

function StateDict.__pairs(sd)
  local keys, i = getmetatable(sd).keys, 0
  return function()
    repeat i = i + 1 until keys[i] == nil or rawget(sd, keys[i]) ~= nil
    if keys[i] ~= nil then return keys[i], rawget(sd, keys[i]) end
  end, sd, nil
end

-- Module.keys(sd) -> a state dict's names in registration order
function Module.keys(sd)
  local mt = getmetatable(sd)
  if mt == StateDict or (mt and mt.keys) then return table.move(mt.keys, 1, #mt.keys, 1, {}) end
  local keys = {}
  for k in next, sd do keys[#keys + 1] = k end
  table.sort(keys)
  return keys
end

-- m:state_dict() -> name -> tensor of every parameter and persistent
-- buffer (see above); lunet.save(path, m:state_dict()) writes it
function Module:state_dict()
  local sd, keys = {}, {}
  for _, e in ipairs(Module.collect_state(self, "", {})) do
    keys[#keys + 1] = e[1]
    sd[e[1]] = e[2]
  end
  return setmetatable(sd, { __name = "StateDict", __pairs = StateDict.__pairs, keys = keys })
end

local function plural(n, word)
  return string.format("%d %s%s", n, word, n == 1 and "" or "s")
end

-- m:load_state_dict(sd [, {strict=true}]) -> missing, unexpected: copy
-- sd's tensors (a state_dict() or any name -> tensor table, such as
-- lunet.load gives) into the parameters and buffers.  Everything is checked before
-- anything is copied, and all problems are reported in one error.  Shape
-- mismatches always fail; missing and unexpected keys only when strict
-- (the default).  Returns the lists of missing and unexpected keys.
function Module:load_state_dict(sd, opts)
  if type(sd) ~= "table" then self:fail("load_state_dict: expected a table, got %s", type(sd)) end
  util.check_options(self:class_name() .. ": load_state_dict", opts, { "strict" })
  local strict = not (opts and opts.strict == false)
  local own = self:state_dict()
  local missing, unexpected, mismatched = {}, {}, {}
  for name in pairs(own) do
    local v = sd[name]
    if v == nil then
      missing[#missing + 1] = name
    elseif not lunet.is_tensor(v) then
      mismatched[#mismatched + 1] = string.format("%s: not a tensor but a %s", name, type(v))
    elseif shape_str(v) ~= shape_str(own[name]) then
      mismatched[#mismatched + 1] = string.format("%s: checkpoint %s, model %s",
                                                  name, shape_str(v), shape_str(own[name]))
    end
  end
  for k in next, sd do   -- raw: every key the table holds
    if own[k] == nil then unexpected[#unexpected + 1] = tostring(k) end
  end
  table.sort(unexpected)
  local problems = {}
  if strict and #missing > 0 then
    problems[#problems + 1] = plural(#missing, "missing key") .. " (" .. table.concat(missing, ", ") .. ")"
  end
  if strict and #unexpected > 0 then
    problems[#problems + 1] = plural(#unexpected, "unexpected key") ..
                              " (" .. table.concat(unexpected, ", ") .. ")"
  end
  if #mismatched > 0 then
    problems[#problems + 1] = plural(#mismatched, "shape mismatch") ..
                              " (" .. table.concat(mismatched, "; ") .. ")"
  end
  if #problems > 0 then self:fail("load_state_dict: %s", table.concat(problems, "; ")) end
  lunet.no_grad(function()
    for name, p in pairs(own) do
      if sd[name] ~= nil then p:copy_(sd[name]) end
    end
  end)
  return missing, unexpected
end

local save, load = Module.op(lunet.save), Module.op(lunet.load)

-- m:save(path) -> m: the state dict as a safetensors file, readable by
-- PyTorch's safetensors.torch.load_file
function Module:save(path)
  save(path, self:state_dict(), { format = "pt" })
  return self
end

-- m:load(path [, {strict=true}]): load_state_dict from a safetensors file
function Module:load(path, opts)
  local tensors = load(path)
  self:load_state_dict(tensors, opts)
  return self
end

-- ---------------------------------------------------------------- printing

-- "in_features=4, out_features=3, bias=true" from {"in_features", 4, ...}
function Module.format_options(list)
  local parts = {}
  for i = 1, #list, 2 do
    local v = list[i + 1]
    if math.type(v) == "float" then v = string.format("%g", v)
    elseif type(v) == "string" then v = "'" .. v .. "'"
    else v = tostring(v) end
    parts[#parts + 1] = list[i] .. "=" .. v
  end
  return table.concat(parts, ", ")
end

-- the options shown between the parentheses; layers override it
function Module:extra_repr()
  return ""
end

-- PyTorch's layout: Name(extra) for a leaf, else one "(name): child" per
-- line, children indented by two spaces
function Module.__tostring(self)
  local lines = {}
  local extra = self:extra_repr()
  for line in extra:gmatch("[^\n]+") do lines[#lines + 1] = line end
  local nextra = #lines
  for _, name in ipairs(self._module_names) do
    local child = tostring(self._modules[name]):gsub("\n", "\n  ")
    lines[#lines + 1] = "(" .. name .. "): " .. child
  end
  local s = self:class_name() .. "("
  if nextra == 1 and #lines == 1 then s = s .. lines[1]
  elseif #lines > 0 then s = s .. "\n  " .. table.concat(lines, "\n  ") .. "\n" end
  return s .. ")"
end

-- ---------------------------------------------------------------- buffers

-- m:register_buffer(name, t, {persistent=true}): t is module state that is
-- not a parameter (no gradient, not stepped by optimisers): it is saved in
-- state_dict() (unless persistent=false) and found as self.name.  nil removes.
-- A name that is already a parameter, a submodule, an attribute or a
-- method is an error, as in PyTorch.
function Module:register_buffer(name, t, opts)
  util.check_options(self:class_name() .. ": register_buffer", opts, { "persistent" })
  check_free(self, "register_buffer", name, t, "buffer")
  set_buffer(self, name, t, opts)
end

-- {name, tensor} of every buffer in the tree, in PyTorch's order; `saved`
-- keeps the persistent ones only
local function collect_buffers(m, prefix, out, saved)
  for _, name in ipairs(m._buffer_names) do
    if not saved or m._buffer_persistent[name] then out[#out + 1] = { prefix .. name, m._buffers[name] } end
  end
  for _, name in ipairs(m._module_names) do
    collect_buffers(m._modules[name], prefix .. name .. ".", out, saved)
  end
  return out
end

-- for name, t in m:named_buffers() do ... end: every buffer in the tree
function Module:named_buffers() return iterate(collect_buffers(self, "", {})) end
-- m:buffers() -> the buffers as a list
function Module:buffers() return values(collect_buffers(self, "", {})) end

-- what state_dict holds, in PyTorch's order: each module's parameters, then
-- its persistent buffers, then its children's (a tied tensor under each name)
function Module.collect_state(m, prefix, out)
  for _, name in ipairs(m._param_names) do out[#out + 1] = { prefix .. name, m._params[name] } end
  for _, name in ipairs(m._buffer_names) do
    if m._buffer_persistent[name] then out[#out + 1] = { prefix .. name, m._buffers[name] } end
  end
  for _, name in ipairs(m._module_names) do
    Module.collect_state(m._modules[name], prefix .. name .. ".", out)
  end
  return out
end

-- ---------------------------------------------------------------- hooks

--[[
m:register_forward_pre_hook(fn): fn(module, args) runs before forward;
args is the table of the call's arguments ({n = count, ...}); fn may return
a new table of arguments.
m:register_forward_hook(fn): fn(module, args, output) runs after forward;
it may return a new output.
Both return a handle whose :remove() takes the hook away.  Hooks run in
the order they were registered.  Attention maps, say:
  local maps = {}
  for name, m in model:named_modules() do
    if m.output_attentions ~= nil then
      m.output_attentions = true
      m:register_forward_hook(function(mod) maps[name] = mod.attention_weights end)
    end
  end
]]
local Handle = { __name = "RemovableHandle" }
Handle.__index = Handle

function Handle:remove()
  local hooks = rawget(self.module, "_hooks")
  if hooks then
    hooks[self.kind][self.id] = nil
    if next(hooks.pre) == nil and next(hooks.post) == nil then rawset(self.module, "_hooks", nil) end
  end
end

local hook_ids = 0

local function add_hook(self, kind, fn)
  if type(fn) ~= "function" then
    self:fail("a hook must be a function, got %s", type(fn))
  end
  local hooks = rawget(self, "_hooks")
  if hooks == nil then
    hooks = { pre = {}, post = {} }
    rawset(self, "_hooks", hooks)
  end
  hook_ids = hook_ids + 1
  hooks[kind][hook_ids] = fn
  return setmetatable({ module = self, kind = kind, id = hook_ids }, Handle)
end

-- m:register_forward_pre_hook(fn) -> handle: fn(module, args) runs before
-- forward (args = {n=, ...}; returning a table replaces them); handle:remove()
function Module:register_forward_pre_hook(fn) return add_hook(self, "pre", fn) end
-- m:register_forward_hook(fn) -> handle: fn(module, args, output) runs after
-- forward (returning a value replaces the output); handle:remove()
function Module:register_forward_hook(fn) return add_hook(self, "post", fn) end

-- the hooks of one kind, in registration order
local function ordered(list)
  local ids = {}
  for id in pairs(list) do ids[#ids + 1] = id end
  table.sort(ids)
  for i, id in ipairs(ids) do ids[i] = list[id] end
  return ids
end

local function forward_of(self, args)
  if profiling.on then return table.pack(profiling.call(self, table.unpack(args, 1, args.n))) end
  return table.pack(self.forward(self, table.unpack(args, 1, args.n)))
end

function call_hooked(self, ...)
  local hooks, args = rawget(self, "_hooks"), table.pack(...)
  for _, fn in ipairs(ordered(hooks.pre)) do
    local new = fn(self, args)
    if new ~= nil then
      if type(new) ~= "table" then self:fail("a forward pre-hook must return nil or a table of arguments") end
      args = new
      args.n = args.n or #args
    end
  end
  local out = forward_of(self, args)
  for _, fn in ipairs(ordered(hooks.post)) do
    local new = fn(self, args, table.unpack(out, 1, out.n))
    if new ~= nil then out[1] = new end
  end
  return table.unpack(out, 1, out.n)
end

-- ---------------------------------------------------------------- parameter groups

--[[
m:param_groups{weight_decay=0.01, no_decay=fn}: the parameters in two
optimiser groups, the usual way to keep weight decay off biases and norm
gains: {params = every parameter with 2 or more dims (weights, embeddings),
weight_decay = weight_decay} and {params = the others, weight_decay = 0}.
no_decay(name, p) -> true overrides the choice.  Hand the result to an
optimiser: lunet.optim.AdamW(model:param_groups{weight_decay = 0.1}, {lr = 3e-4}).
]]
function Module:param_groups(o)
  o = o or {}
  util.check_options(self:class_name() .. ":param_groups", o, { "weight_decay", "no_decay" })
  local wd = o.weight_decay or 0.01
  if type(wd) ~= "number" or wd < 0 then self:fail("param_groups: weight_decay must be a number >= 0") end
  local decay, plain = {}, {}
  for _, e in ipairs(collect_params(self, "", {}, {})) do
    local name, p = e[1], e[2]
    local off
    if o.no_decay then off = o.no_decay(name, p) else off = p:dim() < 2 end
    if off then plain[#plain + 1] = p else decay[#decay + 1] = p end
  end
  local groups = {}
  if #decay > 0 then groups[#groups + 1] = { params = decay, weight_decay = wd } end
  if #plain > 0 then groups[#groups + 1] = { params = plain, weight_decay = 0 } end
  return groups
end

return Module
