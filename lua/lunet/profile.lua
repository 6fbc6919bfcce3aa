-- lunet.profile: what a model costs -- parameters, multiply-adds, FLOPs
-- forward and backward, activation memory, KV cache -- measured by
-- running it once with the core's work counters on (src/core/profile.h), and
-- a torchinfo-like summary table.
--
--   local r = lunet.profile.count(model, {1, 10, 256}, {mask = m})
--   r.params.total, r.linear_macs, r.forward_flops, r.backward_flops, ...
--   lunet.profile.summary(model, {1, 10, 256})
--
-- While counting, nn.Module.__call enters a scope per module, so each op
-- charges its work to the module running it; backward work goes to the
-- module whose forward made the graph node.  Outside count() the only
-- cost is one field test per module call.
local lunet = require "lunet"
local Module = require "lunet.nn.module"
local util = require "lunet.util"

local profile = {}

local profiling = Module._profiling
local FLOAT = 4   -- bytes per element

-- ---------------------------------------------------------------- formatting

profile.commas = util.commas
local commas = profile.commas

local function shape_str(shape)
  if shape == nil then return "--" end
  return util.shape_str(shape)
end

-- ---------------------------------------------------------------- inputs

-- the id range of a model whose input is token ids, or nil
local function vocab_of(model, opts)
  if opts.vocab_size then return opts.vocab_size end
  if math.type(model.vocab_size) == "integer" then return model.vocab_size end
  if model:class_name() == "Embedding" then return model.num_embeddings end
  return nil
end

local function is_shape(t)
  if type(t) ~= "table" or lunet.is_tensor(t) or #t == 0 then return false end
  for i = 1, #t do
    if math.type(t[i]) ~= "integer" or t[i] < 0 then return false end
  end
  return true
end

-- A tensor is used as given.  A shape gives random int64 token ids in
-- 1 .. vocab for a model that reads ids (model.vocab_size, an
-- Embedding, or opts.vocab_size), else N(0, 1) floats, which require
-- grad when grad_input is set (so backward includes the input's
-- gradient, as it does for a layer inside a network).  The draws come
-- from lunet's generator: count and summary put its state back.
function profile.make_input(model, spec, opts, grad_input)
  opts = opts or {}
  if lunet.is_tensor(spec) then return spec end
  if not is_shape(spec) then
    util.fail("profile", "input must be a tensor or a shape such as {1, 10, 256}, got %s",
              type(spec) == "table" and "a table that is not a shape" or type(spec))
  end
  local vocab = vocab_of(model, opts)
  if vocab then return lunet.randint(1, vocab + 1, spec) end
  local x = lunet.randn(spec)
  if grad_input then x:requires_grad(true) end
  return x
end

-- ---------------------------------------------------------------- the module tree

-- modules depth first, each once, as named_modules() orders them, with
-- their depth and children
local function tree(model)
  local nodes, seen = {}, {}
  local function walk(m, name, attr, depth)
    if seen[m] then return nil end
    seen[m] = true
    local node = { module = m, name = name, attr = attr, depth = depth, children = {} }
    nodes[#nodes + 1] = node
    node.id = #nodes
    for _, attr in ipairs(m._module_names) do
      local path = name == "" and attr or name .. "." .. attr
      local child = walk(m._modules[attr], path, attr, depth + 1)
      if child then node.children[#node.children + 1] = child end
    end
    return node
  end
  walk(model, "", nil, 0)
  return nodes
end

-- KV-cache floats per token of the attention layers in the tree
local function kv_cache(nodes)
  local per_layer, total, layers = nil, 0, 0
  for _, node in ipairs(nodes) do
    local f = node.module.kv_floats_per_token
    if type(f) == "function" then
      local n = f(node.module)
      per_layer = per_layer or n
      total, layers = total + n, layers + 1
    end
  end
  if layers == 0 then return nil end
  return { floats_per_token_per_layer = per_layer, bytes_per_token_per_layer = FLOAT * per_layer,
           layers = layers, floats_per_token = total, bytes_per_token = FLOAT * total }
end

-- RotaryEmbedding grows its tables when a sequence outgrows them; do it
-- before counting, so that one-off work is not charged to the forward
local function prepare(nodes, input)
  local S = input:dim() >= 2 and input:size(2) or input:size(1)
  for _, node in ipairs(nodes) do
    local m = node.module
    if type(m.build_tables) == "function" and math.type(m.table_len) == "integer"
       and m.table_len < S then
      m:build_tables(S)
    end
  end
end

-- ---------------------------------------------------------------- counting

local COUNTERS = { "forward_flops", "backward_flops", "linear_macs", "attention_flops" }

-- the options count, summary and time take
local COUNT_OPTIONS = { "mask", "causal", "backward", "vocab_size", "grad_input", "mode" }
local SUMMARY_OPTIONS = { "print", "depth", "columns", "width", table.unpack(COUNT_OPTIONS) }
local TIME_OPTIONS = { "reps", "warmup", "min_ms", table.unpack(COUNT_OPTIONS) }

local counting = false

-- profiling.call while counting: run m in its scope, note its output shape
local function finish(state, id, prev, ...)
  lunet._prof_scope(prev)
  if state.shapes[id] == nil then
    local out = ...
    if lunet.is_tensor(out) then state.shapes[id] = out:shape() end
  end
  return ...
end

local function scoped_call(state)
  return function(m, ...)
    local id = state.ids[m]
    if id == nil then return m:forward(...) end   -- a module made on the fly
    state.calls[id] = state.calls[id] + 1
    local x = ...
    if state.in_shapes[id] == nil and lunet.is_tensor(x) then state.in_shapes[id] = x:shape() end
    return finish(state, id, lunet._prof_scope(id), m:forward(...))
  end
end

-- profiling.fused while counting: a module whose forward is one fused op
-- standing for its children (nn.MLP: Linear, GELU, Linear) has the op
-- charge each child's share to the child's own row (lunet._prof_parts),
-- and notes the children as called with the shapes they would have seen:
-- x's, then x's with the last dim `hidden` between them.
local function fused_call(state)
  return function(parts, x, hidden, run)
    local ids = {}
    for i, m in ipairs(parts) do
      ids[i] = state.ids[m]
      if ids[i] == nil then return run() end   -- made on the fly: the current row
    end
    lunet._prof_parts(table.unpack(ids))
    local out
    do
      local _ <close> = util.defer(function() lunet._prof_parts() end)
      out = run()
    end
    local xs, hs = x:shape(), x:shape()
    hs[#hs] = hidden
    local shapes = { xs, hs, hs, lunet.is_tensor(out) and out:shape() or nil }
    for i, id in ipairs(ids) do
      state.calls[id] = state.calls[id] + 1
      state.in_shapes[id] = state.in_shapes[id] or shapes[i]
      state.shapes[id] = state.shapes[id] or shapes[i + 1]
    end
    return out
  end
end

local function live_bytes()
  collectgarbage("collect")
  collectgarbage("collect")
  return lunet.memory_allocated()
end

-- Take the .grad of the model's parameters and of x away, to put back
-- after a backward of ours: backward adds into an existing .grad in place.
local function save_grads(model, x)
  local saved = {}
  for _, p in ipairs(model:parameters()) do saved[#saved + 1] = { p, p.grad } end
  if x:requires_grad() then saved[#saved + 1] = { x, x.grad } end
  for _, e in ipairs(saved) do e[1].grad = nil end
  return saved
end

local function restore_grads(saved)
  for _, e in ipairs(saved) do e[1].grad = e[2] end
end

-- model(input, mask[, {causal=true}])
local function call_model(model, x, opts)
  if opts.causal then return model(x, opts.mask, { causal = true }) end
  if opts.mask ~= nil then return model(x, opts.mask) end
  return model(x)
end

--[[
count(model, input_or_shape [, opts]) runs model once (forward, and
backward unless opts.backward == false) with the counters on.  opts:
  mask      passed to the model as its second argument
  causal    pass {causal=true} as the third
  backward  run backward too (default true), seeded with ones
  vocab_size  ids in 1 .. vocab_size for a shape (default: the model's
              vocab_size, or an Embedding's num_embeddings)
  grad_input  a float input made from a shape requires grad (default true)
  mode      "eval" (default, as torchinfo: no dropout) or "train"
The model's train/eval mode, its parameters' .grad and lunet's random
generator (which random inputs and dropout draw from) are as they were
afterwards, error or not.
Returns a table:
  params {total, trainable}, linear_macs, forward_flops, attention_flops,
  backward_flops (nil without backward), activations (bytes of storage
  the graph keeps for backward, the output excluded), kv_cache (nil for
  a model without attention), input_shape, output_shape, ms (the wall
  time of this forward + backward, counters on), and rows: one
  per module, depth first, {name, attr, type, depth, input_shape, output_shape,
  params, trainable, linear_macs, forward_flops, attention_flops,
  backward_flops, calls, own = {the counters of its own ops}}, where
  each row's numbers include its submodules'.  (The adds that sum a
  tensor's gradients from several uses happen between nodes, in no
  module: they are in the total backward_flops only.)
]]
function profile.count(model, input, opts)
  opts = util.check_options("profile.count", opts, COUNT_OPTIONS) or {}
  if not Module.is_module(model) then util.fail("profile", "count expects a module, got %s", type(model)) end
  if counting then util.fail("profile", "count is already running") end
  if opts.mode ~= nil and opts.mode ~= "eval" and opts.mode ~= "train" then
    util.fail("profile.count", "mode must be 'eval' or 'train', got %s", tostring(opts.mode))
  end
  local backward = opts.backward ~= false
  local rng = lunet.get_rng_state()
  local _ <close> = util.defer(function() lunet.set_rng_state(rng) end)
  local _ <close> = opts.mode == "train" and util.train_mode(model) or util.eval_mode(model)
  local x = profile.make_input(model, input, opts, backward and opts.grad_input ~= false)
  local nodes = tree(model)
  local state = { ids = {}, shapes = {}, in_shapes = {}, calls = {} }
  for _, node in ipairs(nodes) do
    state.ids[node.module] = node.id
    state.calls[node.id] = 0
  end
  prepare(nodes, x)
  local grads = save_grads(model, x)
  local activations, out_shape, ms

  counting = true
  do
    -- put everything back on the way out, error or not (nothing is caught)
    local _ <close> = util.defer(function()
      profiling.on, profiling.call, profiling.fused = false, nil, nil   -- (they hold the model)
      lunet._prof_scope(0)
      lunet._prof_stop()
      counting = false
      restore_grads(grads)
    end)
    local _ <close> = util.grad_mode(true)
    local mem0 = live_bytes()
    lunet._prof_start(#nodes + 1)
    profiling.call, profiling.fused = scoped_call(state), fused_call(state)
    profiling.on = true
    local t0 = lunet._now()
    local out = call_model(model, x, opts)
    local t1 = lunet._now()
    profiling.on, profiling.fused = false, nil
    if not lunet.is_tensor(out) then util.fail("profile", "the model must return a tensor") end
    out_shape = out:shape()
    if out:requires_grad() then
      activations = live_bytes() - mem0 - FLOAT * out:numel()
      if backward then   -- each node's work lands on the module that made it
        local t2 = lunet._now()
        out:backward(lunet.ones_like(out))
        t1 = t1 + lunet._now() - t2
      end
    else
      backward = false
    end
    ms = 1000 * (t1 - t0)
  end

  -- each node's own counters, then subtree sums bottom up
  local own = {}
  for _, node in ipairs(nodes) do own[node.id] = lunet._prof_get(node.id) end
  local rows = {}
  local function sum(node)
    local total, trainable = node.module:num_parameters()
    local row = { name = node.name, attr = node.attr, type = node.module:class_name(),
                  depth = node.depth, output_shape = state.shapes[node.id],
                  input_shape = state.in_shapes[node.id],
                  params = total, trainable = trainable, calls = state.calls[node.id],
                  own = own[node.id], children = #node.children }
    rows[node.id] = row
    for _, k in ipairs(COUNTERS) do row[k] = own[node.id][k] end
    for _, child in ipairs(node.children) do
      local c = sum(child)
      for _, k in ipairs(COUNTERS) do row[k] = row[k] + c[k] end
    end
    return row
  end
  local root = sum(nodes[1])
  local outside = lunet._prof_get(0)
  local total, trainable = model:num_parameters()
  local result = {
    params = { total = total, trainable = trainable },
    linear_macs = root.linear_macs + outside.linear_macs,
    forward_flops = root.forward_flops + outside.forward_flops,
    attention_flops = root.attention_flops + outside.attention_flops,
    backward_flops = backward and (root.backward_flops + outside.backward_flops) or nil,
    activations = activations,
    kv_cache = kv_cache(nodes),
    input_shape = x:shape(),
    output_shape = out_shape,
    ms = ms,
    rows = rows,
  }
  return result
end

-- ---------------------------------------------------------------- summary

local function pad(s, w, right)
  if #s >= w then return s end
  return right and string.rep(" ", w - #s) .. s or s .. string.rep(" ", w - #s)
end

local function mb(bytes)
  return string.format("%.2f", bytes / 1e6)
end

local function percent(part, whole)
  if whole == 0 then return "--" end
  return string.format("%.1f%%", 100 * part / whole)
end

-- the summary's columns: header and the cell of a row (r: the totals)
local COLUMNS = {
  input_shape = { "Input Shape", function(rw) return shape_str(rw.input_shape) end },
  output_shape = { "Output Shape", function(rw) return shape_str(rw.output_shape) end },
  params = { "Param #", function(rw) return commas(rw.params) end },
  params_percent = { "Param %", function(rw, r) return percent(rw.params, r.params.total) end },
  trainable = { "Trainable", function(rw) return commas(rw.trainable) end },
  linear_macs = { "Linear MACs", function(rw) return commas(rw.linear_macs) end },
  flops = { "FLOPs", function(rw) return commas(rw.forward_flops) end },
  flops_percent = { "FLOPs %", function(rw, r) return percent(rw.forward_flops, r.forward_flops) end },
}
profile.SUMMARY_COLUMNS = { "input_shape", "output_shape", "params", "params_percent", "trainable",
                            "linear_macs", "flops", "flops_percent" }
local DEFAULT_COLUMNS = { "output_shape", "params", "linear_macs", "flops" }
-- the default columns a narrow table leaves out, first to last
local DROP_ORDER = { "linear_macs", "output_shape", "flops" }
local GAP, MIN_LABEL = 2, 24

local Summary = {}
Summary.__index = Summary
Summary.__name = "profile.Summary"

-- the table's rows: {label, cells by column name}, the header first
local function summary_rows(r)
  local rows, all = {}, profile.SUMMARY_COLUMNS
  local header = {}
  for _, c in ipairs(all) do header[c] = COLUMNS[c][1] end
  rows[1] = { "Layer (type)", header }
  for _, rw in ipairs(r.rows) do
    if rw.depth <= r.depth then
      local indent = string.rep("  ", rw.depth)
      local cells = {}
      for _, c in ipairs(all) do cells[c] = COLUMNS[c][2](rw, r) end
      rows[#rows + 1] = { rw.depth == 0 and rw.type or indent .. rw.attr .. " (" .. rw.type .. ")", cells }
      local o = rw.own
      if rw.children > 0 and rw.depth < r.depth and (o.forward_flops > 0 or o.linear_macs > 0) then
        rows[#rows + 1] = { indent .. "  (own ops)", { linear_macs = commas(o.linear_macs),
                            flops = commas(o.forward_flops),
                            flops_percent = percent(o.forward_flops, r.forward_flops) } }
      end
    end
  end
  return rows
end

-- the label column's width and each column's, from what they hold
local function measure(rows, cols)
  local label, w = 0, {}
  for _, row in ipairs(rows) do
    label = math.max(label, #row[1])
    for _, c in ipairs(cols) do w[c] = math.max(w[c] or 0, #(row[2][c] or "")) end
  end
  local total = label
  for _, c in ipairs(cols) do total = total + GAP + w[c] end
  return label, w, total
end

-- Fit the table to r.width as torchinfo's fixed columns do not: columns as
-- wide as what they hold, then (the default columns only) the least needed
-- left out, then labels cut short.  Columns the caller listed all stay.
local function layout(r, rows)
  local cols = table.move(r.columns, 1, #r.columns, 1, {})
  local label, w, total = measure(rows, cols)
  if not r.columns_given then
    for _, drop in ipairs(DROP_ORDER) do
      if total <= r.width or #cols <= 1 then break end
      for i, c in ipairs(cols) do if c == drop then table.remove(cols, i) end end
      label, w, total = measure(rows, cols)
    end
  end
  if total > r.width then label = math.max(MIN_LABEL, label - (total - r.width)) end
  return cols, label, w
end

-- the table as text (tostring(summary) and print(summary) give it)
function Summary.__tostring(r)
  local rows = summary_rows(r)
  local cols, name_w, w = layout(r, rows)
  local lines = {}
  local function row(label, cells)
    if #label > name_w then label = label:sub(1, name_w - 3) .. "..." end
    local parts = { pad(label, name_w) }
    for _, c in ipairs(cols) do
      parts[#parts + 1] = string.rep(" ", GAP) ..
                          pad(cells[c] or "", w[c], c ~= "input_shape" and c ~= "output_shape")
    end
    lines[#lines + 1] = (table.concat(parts):gsub("%s+$", ""))
  end
  local width = name_w
  for _, c in ipairs(cols) do width = width + GAP + w[c] end
  local rule, heavy = string.rep("-", width), string.rep("=", width)
  lines[1] = heavy
  row(rows[1][1], rows[1][2])
  lines[#lines + 1] = heavy
  for i = 2, #rows do row(rows[i][1], rows[i][2]) end
  lines[#lines + 1] = heavy
  local p = r.params
  local function line(k, v) lines[#lines + 1] = k .. v end
  line("Total params: ", commas(p.total))
  line("Trainable params: ", commas(p.trainable))
  line("Non-trainable params: ", commas(p.total - p.trainable))
  line("Linear MACs (thop): ", commas(r.linear_macs))
  line("Forward FLOPs: ", commas(r.forward_flops) ..
       (r.attention_flops > 0 and "  (attention op: " .. commas(r.attention_flops) .. ")" or ""))
  if r.backward_flops then line("Backward FLOPs: ", commas(r.backward_flops)) end
  if r.kv_cache then
    local kv = r.kv_cache
    line("KV cache per token per layer: ", commas(kv.floats_per_token_per_layer) .. " floats (" ..
         commas(kv.bytes_per_token_per_layer) .. " bytes)" ..
         (kv.layers > 1 and string.format(", %d layers", kv.layers) or ""))
  end
  lines[#lines + 1] = rule
  line("Input size (MB): ", mb(r.input_bytes))
  if r.activations then line("Forward/backward pass size (MB): ", mb(r.activations)) end
  line("Params size (MB): ", mb(FLOAT * p.total))
  line("Estimated total size (MB): ", mb(r.input_bytes + (r.activations or 0) + FLOAT * p.total))
  lines[#lines + 1] = heavy
  return table.concat(lines, "\n")
end

--[[
summary(model, input_or_shape [, opts]) -> a summary: one object that
prints itself as a table like torchinfo's (tostring, print, or the REPL
showing it) and holds count's numbers (s.params.total, s.rows, ...).
The table: the module tree to opts.depth (default 3; deeper modules are
counted in their parents' rows), the columns opts.columns lists (default
{"output_shape", "params", "linear_macs", "flops"}; also "input_shape",
"params_percent", "trainable", "flops_percent": profile.SUMMARY_COLUMNS),
each as wide as what it holds, fitted to opts.width characters (default
80: of the default columns, Linear MACs, then the output shape, then
FLOPs are left out while it is too wide, then labels are cut; columns you
list all stay),
then the totals: parameters (trainable or not), Linear MACs (thop's
count), forward (and with backward = true, backward) FLOPs, KV cache,
and the sizes: input, forward/backward pass (what the graph keeps),
parameters and their sum.  A container's row includes its submodules;
the work it does itself (a fused attention, a tied output head) is an
"(own ops)" row below it.  Other opts as for count (a TransformerLM gets
random token ids in its vocabulary for a {B, S} shape); opts.print = true
also prints it.
]]
function profile.summary(model, input, opts)
  opts = util.check_options("profile.summary", opts, SUMMARY_OPTIONS) or {}
  local depth = opts.depth or 3
  if math.type(depth) ~= "integer" or depth < 0 then
    util.fail("profile.summary", "depth must be an integer >= 0, got %s", tostring(depth))
  end
  local cols = opts.columns or DEFAULT_COLUMNS
  if type(cols) ~= "table" then util.fail("profile.summary", "columns must be a list of names") end
  for _, c in ipairs(cols) do
    if not COLUMNS[c] then
      util.fail("profile.summary", "unknown column '%s' (one of %s)", tostring(c),
                util.choices(profile.SUMMARY_COLUMNS))
    end
  end
  local width = opts.width or 80
  if math.type(width) ~= "integer" or width < 40 then
    util.fail("profile.summary", "width must be an integer >= 40, got %s", tostring(width))
  end
  local copts = {}
  for k, v in pairs(opts) do
    if k ~= "print" and k ~= "depth" and k ~= "columns" and k ~= "width" then copts[k] = v end
  end
  copts.backward = opts.backward == true
  local r = profile.count(model, input, copts)
  local n = 1
  for _, d in ipairs(r.input_shape) do n = n * d end
  r.input_bytes = FLOAT * n
  r.depth, r.columns, r.columns_given, r.width = depth, cols, opts.columns ~= nil, width
  setmetatable(r, Summary)
  if opts.print then print(r) end
  return r
end

-- ---------------------------------------------------------------- timing

--[[
time(model, input_or_shape [, opts]) -> median milliseconds, samples:
wall-clock time of forward (and backward unless opts.backward == false)
over opts.reps samples (default 5) after opts.warmup runs (default 1).
With opts.min_ms, a sample repeats the run until it has taken that long
and gives the mean, so that short runs are not lost in timer noise.
opts.mask, opts.causal as for count.  The parameters' gradients are put
back as they were.
]]
function profile.time(model, input, opts)
  opts = util.check_options("profile.time", opts, TIME_OPTIONS) or {}
  local backward = opts.backward ~= false
  local x = profile.make_input(model, input, opts, backward and opts.grad_input ~= false)
  local grads = save_grads(model, x)
  local reps, warmup, samples = opts.reps or 5, opts.warmup or 1, {}
  local now, inner = lunet._now, 1
  local function step()
    local out = call_model(model, x, opts)
    if backward then out:backward(lunet.ones_like(out)) end
  end
  local function sample()
    for _, e in ipairs(grads) do e[1].grad = nil end
    collectgarbage("collect")
    local t0 = now()
    for _ = 1, inner do step() end
    return 1000 * (now() - t0) / inner
  end
  local _ <close> = util.defer(function() restore_grads(grads) end)
  if opts.min_ms then   -- one run to see how many make a sample
    inner = math.max(1, math.ceil(opts.min_ms / math.max(sample(), 1e-3)))
  end
  for i = 1, warmup + reps do
    local t = sample()
    if i > warmup then samples[#samples + 1] = t end
  end
  return profile.median(samples), samples
end

-- profile.median(list) -> the median of a list of numbers (nil if empty)
function profile.median(samples)
  local sorted = { table.unpack(samples) }
  table.sort(sorted)
  local n = #sorted
  if n == 0 then return nil end
  return n % 2 == 1 and sorted[(n + 1) // 2] or (sorted[n // 2] + sorted[n // 2 + 1]) / 2
end

return profile
