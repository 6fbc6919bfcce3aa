--[[
lunet.nn.attention: the attention variants by name.  The one factory that
TransformerBlock, TransformerLM and lunet.compare build them through, the
sizes and costs of a configuration without building it (a probe), and
budget matching.

  attention.names                      {"mha", "mqa", "gqa", "mla", "gated"}
  attention.new(name, width, num_heads [, opts])  -> module
      opts: the variant's own options (group_size, down_dim, latent_rank,
      head_dim, ...) and dropout (the attention-weight dropout, under the
      variant's own name for it; seed 000's gated module has none)
  attention.option_names(name)         the names opts may hold for it
  attention.probe(name, width, num_heads [, opts]) -> an object with the
      module's sizes, :costs(B, S, o) and :kv_floats_per_token(), but no
      weights (cheap at any width)
  attention.measure(m, metric [, seq]) -> number: m's (a module's or a
      probe's) "params", "kv" (cache floats per token) or "flops" (forward
      FLOPs per token over one sequence of seq tokens, default 1)
  attention.match(name, width, num_heads, opts, metric, target [, seq])
      -> opts with the variant's free size set, and the figure it achieves

Every size a variant is not given follows from width and num_heads by its
class's width rule (see each module), so the seeds' configuration comes out
at width 256 with 8 heads.  Budget matching turns one free size per
variant, keeping the rest at the rule's values:
  mha, mqa, gqa   head_dim      (the heads' width; num_heads * head_dim need
                                 not be the model's width)
  mla             down_dim      (the latent; up_dim follows at twice it,
                                 as in the seed, rounded to the nearest
                                 multiple of num_heads (at least one per
                                 head), unless given)
  gated           latent_rank
and picks the value (up to 4 times the width) whose figure is nearest the
target (the smaller value on a tie).  The figures only grow with each free
size, so the search stops once it has passed the target.
]]
local util = require "lunet.util"

local attention = {}

attention.names = { "mha", "mqa", "gqa", "mla", "gated" }

-- name -> its class's module, the class's option names for the width and
-- the attention dropout, and the free size budget matching turns
local VARIANTS = {
  mha = { "lunet.nn.multi_head_attention", width = "hidden_size", dropout = "dropout",
          free = "head_dim" },
  mqa = { "lunet.nn.multi_query_attention", width = "hidden_size", dropout = "dropout",
          free = "head_dim" },
  gqa = { "lunet.nn.grouped_query_attention", width = "hidden_size", dropout = "dropout",
          free = "head_dim" },
  mla = { "lunet.nn.multi_head_latent_attention", width = "hidden_size", dropout = "dropout_prob",
          free = "down_dim" },
  gated = { "lunet.nn.gated_latent_attention", width = "d_model", free = "latent_rank" },
}
attention.variants = VARIANTS

attention.METRICS = { "params", "kv", "flops" }

-- the variant's entry; an unknown name is op's error, with a did-you-mean
local function variant(op, name)
  local v = VARIANTS[name]
  if v == nil then
    local near = util.did_you_mean(tostring(name), attention.names)
    util.fail(op, "attention must be %s, got %s%s", util.choices(attention.names),
              tostring(name), near and string.format(" (did you mean '%s'?)", near) or "")
  end
  return v
end

function attention.check(op, name)
  variant(op, name)
  return name
end

function attention.class(name)
  return require(variant("attention", name)[1])
end

-- the option names opts may hold for the variant: its class's options
-- but for the width and head count, which the caller gives, and with
-- "dropout" for the class's own name of the attention dropout
function attention.option_names(name)
  local v = variant("attention", name)
  local spec, names = require(v[1]).spec, {}
  local function add(k)
    if k ~= v.width and k ~= "num_heads" and k ~= v.dropout then names[#names + 1] = k end
  end
  for _, k in ipairs(spec) do add(k) end
  for k in pairs(spec) do if type(k) == "string" then add(k) end end
  if v.dropout then names[#names + 1] = "dropout" end
  table.sort(names)
  local out, last = {}, nil
  for _, k in ipairs(names) do if k ~= last then out[#out + 1] = k end; last = k end
  return out
end

-- the options table of the variant's class
local function class_options(name, width, num_heads, opts)
  local v = VARIANTS[name]
  local o = {}
  for k, x in pairs(opts or {}) do
    if k == "dropout" then
      if v.dropout then o[v.dropout] = x end     -- seed 000's module has no attention dropout
    else
      o[k] = x
    end
  end
  o[v.width], o.num_heads = width, num_heads
  return o
end

function attention.new(name, width, num_heads, opts)
  local cls = attention.class(name)
  return cls(class_options(name, width, num_heads, opts))
end

-- ---------------------------------------------------------------- probes

local probe_meta = {}   -- class -> the metatable of its probes

function attention.probe(name, width, num_heads, opts)
  local cls = attention.class(name)
  local meta = probe_meta[cls]
  if meta == nil then
    meta = { __index = cls, __name = cls.__name }
    probe_meta[cls] = meta
  end
  local probe = setmetatable({}, meta)
  probe:configure(cls:parse_options(class_options(name, width, num_heads, opts)))
  return probe
end

function attention.measure(m, metric, seq)
  if metric == "kv" then return m:kv_floats_per_token() end
  seq = seq or 1
  local c = m:costs(1, seq)
  if metric == "params" then return c.params end
  if metric == "flops" then return c.forward_flops / seq end
  util.fail("attention", "metric must be %s, got %s", util.choices(attention.METRICS), tostring(metric))
end

-- ---------------------------------------------------------------- matching

-- opts with the free size set to n (and, for MLA, up_dim following it)
local function with_free(name, num_heads, opts, n)
  local v, o = VARIANTS[name], {}
  for k, x in pairs(opts or {}) do o[k] = x end
  o[v.free] = n
  if name == "mla" and (opts == nil or opts.up_dim == nil) then
    o.up_dim = num_heads * math.max(1, (2 * n + num_heads // 2) // num_heads)
  end
  return o
end

function attention.match(name, width, num_heads, opts, metric, target, seq)
  local v = variant("attention", name)
  if opts and opts[v.free] ~= nil then
    util.fail("attention", "%s: match chooses %s, so it cannot be given too", name, v.free)
  end
  if type(target) ~= "number" or not (target > 0) then
    util.fail("attention", "match target must be a positive number, got %s", tostring(target))
  end
  local best, best_gap, best_value, prev
  for n = 1, 4 * width do
    local o = with_free(name, num_heads, opts, n)
    local value = attention.measure(attention.probe(name, width, num_heads, o), metric, seq)
    local gap = math.abs(value - target)
    if best == nil or gap < best_gap then best, best_gap, best_value = o, gap, value end
    if value > target and prev and value > prev then break end   -- past it, and only growing
    prev = value
  end
  return best, best_value
end

return attention
