--[[
lunet.compare: the attention variants side by side, at the same width
and head count or at a matched budget.

  local compare = require "lunet.compare"
  local rows = compare { hidden_size = 512, num_heads = 16, match = "kv", target = 256 }
  print(compare.format(rows))

Options:
  hidden_size, num_heads   the width and query heads every variant gets (256, 8)
  variants                 names, in order (all five: mha mqa gqa mla gated)
  options                  per-variant options, e.g. {gqa = {group_size = 4}};
                           sizes not given follow each variant's width rule
  match                    "params" | "kv" | "flops": turn each variant's free
                           size (lunet.nn.attention) so that figure comes
                           nearest the target
  target                   the figure to match (default: MHA's at this width)
  seq                      tokens per sequence for "flops" (default 10)
  build                    false: probes only, no weights (default true)

Returns one row per variant: {variant, name, module (unless build=false),
options (the sizes it got, free size included), params, kv (cache floats
per token), flops (forward FLOPs per token at seq), free (the free size's
name and value), and with match: metric, target, achieved (= the row's
figure for the metric), gap (achieved / target - 1)}.  The figures come
from the modules' analytic formulas, which the specs check against
measured runs; build=false works at any width without allocating weights.
]]
local util = require "lunet.util"
local attention = require "lunet.nn.attention"

local compare = {}

compare.NAMES = { mha = "MHA", mqa = "MQA", gqa = "GQA", mla = "MLA", gated = "Gated" }

local OPTIONS = { "hidden_size", "num_heads", "variants", "options", "match", "target", "seq", "build" }

local function copy(t)
  local c = {}
  for k, v in pairs(t or {}) do c[k] = v end
  return c
end

-- the sizes a probe ended up with, for the table: the options the
-- variant takes, as the probe holds them
local function sizes_of(name, probe)
  local out = {}
  for _, k in ipairs(attention.option_names(name)) do
    if type(probe[k]) == "number" and k ~= "dropout" then out[k] = probe[k] end
  end
  return out
end

local function run(o)
  util.check_options("compare", o, OPTIONS)
  o = o or {}
  local width, heads = o.hidden_size or 256, o.num_heads or 8
  local seq = o.seq or 10
  local variants = o.variants or attention.names
  for _, v in ipairs(variants) do attention.check("compare", v) end
  if o.options ~= nil then
    util.check_options("compare: options", o.options, attention.names)
  end
  local target = o.target
  if o.match ~= nil then
    local ok = false
    for _, m in ipairs(attention.METRICS) do ok = ok or m == o.match end
    if not ok then
      util.fail("compare", "match must be %s, got %s", util.choices(attention.METRICS), tostring(o.match))
    end
    if target == nil then
      target = attention.measure(attention.probe("mha", width, heads), o.match, seq)
    end
  elseif target ~= nil then
    util.fail("compare", "target needs match = %s", util.choices(attention.METRICS))
  end
  local rows = {}
  for _, name in ipairs(variants) do
    local opts = copy(o.options and o.options[name])
    util.check_options("compare: options." .. name, opts, attention.option_names(name))
    if o.match then opts = attention.match(name, width, heads, opts, o.match, target, seq) end
    local probe = attention.probe(name, width, heads, opts)
    local free = attention.variants[name].free
    local row = {
      variant = name, name = compare.NAMES[name], options = sizes_of(name, probe),
      params = attention.measure(probe, "params"), kv = attention.measure(probe, "kv"),
      flops = attention.measure(probe, "flops", seq), free = { free, probe[free] },
    }
    if o.match then
      row.metric, row.target, row.achieved = o.match, target, row[o.match]
      row.gap = row.achieved / target - 1
    end
    if o.build ~= false then row.module = attention.new(name, width, heads, opts) end
    rows[#rows + 1] = row
  end
  return rows
end

-- ---------------------------------------------------------------- the table

local commas = util.commas

-- the sizes column: "head_dim=32", "down_dim=64 up_dim=128 rope_head_dim=26"
local function sizes_str(row)
  local keys = {}
  for k in pairs(row.options) do keys[#keys + 1] = k end
  table.sort(keys)
  local parts = {}
  for _, k in ipairs(keys) do parts[#parts + 1] = k .. "=" .. row.options[k] end
  return table.concat(parts, " ")
end

--[[
compare.format(rows [, {markdown = true}]) -> the table as text: variant,
its sizes, params, KV floats/tok, fwd FLOPs/tok, and with a match the
target, the achieved figure and the gap in percent.
]]
function compare.format(rows, opts)
  util.check_options("compare.format", opts, { "markdown" })
  local md = opts and opts.markdown or false
  local head = { "variant", "sizes", "params", "KV floats/tok", "fwd FLOPs/tok" }
  local matched = rows[1] and rows[1].metric
  if matched then
    head[#head + 1] = "target " .. matched
    head[#head + 1] = "achieved"
    head[#head + 1] = "gap"
  end
  local cells = { head }
  for _, r in ipairs(rows) do
    local c = { r.name, sizes_str(r), commas(r.params), commas(r.kv), commas(r.flops) }
    if matched then
      c[#c + 1] = commas(r.target)
      c[#c + 1] = commas(r.achieved)
      c[#c + 1] = string.format("%+.1f%%", 100 * r.gap)
    end
    cells[#cells + 1] = c
  end
  return util.text_table(cells, { left = 2, markdown = md, rule = true })
end

return setmetatable(compare, { __call = function(_, o) return run(o) end })
