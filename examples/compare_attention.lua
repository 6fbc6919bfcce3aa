-- Compare the attention variants: what they cost, counted and timed.
--
-- First the seeds' "Attention Test" block, with their numbers: output
-- shapes at batch 2, seq 10 with the last 5 positions masked, and thop's
-- parameter and "FLOPs" counts (really the multiply-accumulates of the
-- Linear layers alone) at batch 1, seq 10.  Then a table over all five
-- attention modules -- MHA, MQA, GQA, MLA and seed 000's gated latent
-- attention -- of what thop cannot see: the full forward FLOPs with the
-- attention products, the backward FLOPs, the KV cache per token, the
-- activation memory a training step keeps, and measured milliseconds of
-- forward + backward, at seq 10 and at a long sequence where attention's
-- quadratic term takes over.
--
--   build/bin/lunet examples/compare_attention.lua [options]
--
-- Options (defaults are the seeds' setup; --help lists them):
--   --hidden N          hidden size (256)         --heads N        heads (8)
--   --group-size N      GQA heads per kv head     --latent-rank N  gated
--   --down-dim N  --up-dim N  --rope-head-dim N   MLA
--                       (sizes not given follow each variant's width rule:
--                       at 256/8 the seeds' 2; 64, 128, 26; 32)
--   --match M           params, kv or flops: build each variant at the same
--                       budget (lunet.compare), shown as target and achieved
--   --target N          the budget (default: MHA's at this width)
--   --seq LIST          sequence lengths of the table, comma separated (10,4096)
--   --batch N           batch of the table (1)
--   --reps N            timed runs per cell, the median is shown (3)
--   --budget S          no further runs once a cell has taken S seconds (10)
--   --csv | --markdown  print the table(s) only, in that format
local lunet = require "lunet"
local profile = lunet.profile
local compare = require "lunet.compare"
local commas = profile.commas
local cli = require "lunet.cli"

-- ---------------------------------------------------------------- options

local parser = cli.parser("compare_attention.lua",
  "Compare the attention variants: the seeds' Attention Test, then what each costs, counted and timed.",
  "Sizes not given follow each variant's width rule (at 256/8 the seeds' 2; 64, 128, 26; 32).")
local positive = cli.int(1)
parser:option("--hidden", "hidden size"):default("256"):convert(positive)
parser:option("--heads", "attention heads"):default("8"):convert(positive)
parser:option("--group-size", "GQA query heads per kv head"):target("group-size"):convert(positive)
parser:option("--down-dim", "MLA latent width"):target("down-dim"):convert(positive)
parser:option("--up-dim", "MLA content dims, all heads"):target("up-dim"):convert(positive)
parser:option("--rope-head-dim", "MLA RoPE dims per head"):target("rope-head-dim"):convert(positive)
parser:option("--latent-rank", "the gated module's latent rank"):target("latent-rank"):convert(positive)
parser:option("--match", "build every variant at one budget (lunet.compare)"):choices { "params", "kv", "flops" }
parser:option("--target", "the budget (default: MHA's at this width)"):convert(cli.number())
parser:option("--seq", "sequence lengths of the table"):default("10,4096"):convert(cli.list(positive))
parser:option("--batch", "batch of the table"):default("1"):convert(positive)
parser:option("--reps", "timed runs per cell (the median is shown)"):default("3"):convert(positive)
parser:option("--budget", "no further runs once a cell has taken this many seconds"):default("10")
  :convert(cli.number(0))
parser:mutex(parser:flag("--csv", "print the table(s) only, as CSV"),
             parser:flag("--markdown", "print the table(s) only, as markdown"))
local opts = cli.parse(parser)
local seqs = opts.seq
if opts.target and not opts.match then parser:error("--target needs --match") end

local H, D = opts.heads, opts.hidden

-- the five modules, in the seeds' order, seed 000's last, built by
-- lunet.compare (at a matched budget with --match)
local function given(flag) return opts[flag] or nil end
local variant_options = {
  gqa = { group_size = given("group-size") },
  mla = { down_dim = given("down-dim"), up_dim = given("up-dim"), rope_head_dim = given("rope-head-dim") },
  gated = { latent_rank = given("latent-rank") },
}
local compared
local function build()
  local ok, rows = pcall(compare, { hidden_size = D, num_heads = H, options = variant_options,
                                    match = opts.match or nil, target = opts.target or nil,
                                    seq = seqs[1] })
  if not ok then parser:error(tostring(rows)) end
  compared = rows
  local mods = {}
  for i, r in ipairs(rows) do mods[i] = { r.name, r.module } end
  return mods
end

lunet.manual_seed(0)
local modules = build()

-- ---------------------------------------------------------------- the seeds' block

local text = not (opts.csv or opts.markdown)

if text and not opts.match then
  -- as the seeds: batch 2, seq 10, the last 5 positions of each sequence masked
  local B, S = 2, 10
  local x = lunet.randn { B, S, D }
  local mask = lunet.ones { B, S }
  for b = 1, B do for s = S // 2 + 1, S do mask:set({ b, s }, 0) end end
  print("========== Attention Test ==========")
  for k = 1, 4 do
    local name, m = modules[k][1], modules[k][2]
    local out = lunet.no_grad(function() return m(x, mask) end)
    print(name .. " Output Shape: " .. require("lunet.util").shape_str(out))
    -- thop's count: batch 1, seq 10, no mask; Linear MACs as a float
    local r = profile.count(m, { 1, S, D }, { backward = false })
    print(string.format("%s Params: %d, FLOPs: %.1f", name, r.params.total, r.linear_macs))
    if k < 4 then print(string.rep("=", 39)) end
  end
  print()
end

-- ---------------------------------------------------------------- the table

local COLUMNS = {
  { "module", "module", false },
  { "params", "params", true },
  { "thop MACs", "linear_macs", true },
  { "fwd FLOPs", "forward_flops", true },
  { "bwd FLOPs", "backward_flops", true },
  { "KV floats/tok", "kv_floats", true },
  { "activations B", "activations", true },
  { "fwd+bwd ms", "ms", true },
}

-- median ms of forward+backward, and the number of runs it is over.
-- Short runs: --reps samples, each the mean of enough runs to take 50 ms.
-- Long runs: the counting run is the first; more follow up to --reps,
-- but none once the cell has taken --budget seconds.
local function timing(m, shape, r)
  if r.ms < 50 then
    return profile.time(m, shape, { reps = opts.reps, warmup = 1, min_ms = 50 }), opts.reps
  end
  local samples, spent = { r.ms }, r.ms
  while #samples < opts.reps and spent < 1000 * opts.budget do
    local _, s = profile.time(m, shape, { reps = 1, warmup = 0 })
    samples[#samples + 1] = s[1]
    spent = spent + s[1]
  end
  return profile.median(samples), #samples
end

local function measure(S)
  local rows = {}
  for _, e in ipairs(modules) do
    local name, m = e[1], e[2]
    local shape = { opts.batch, S, D }
    local r = profile.count(m, shape)
    local ms, runs = timing(m, shape, r)
    rows[#rows + 1] = {
      module = name, params = r.params.total, linear_macs = r.linear_macs,
      forward_flops = r.forward_flops, backward_flops = r.backward_flops,
      kv_floats = r.kv_cache.floats_per_token_per_layer, activations = r.activations,
      ms = ms, runs = runs,
    }
    collectgarbage("collect")
  end
  return rows
end

local function cell(row, col)
  local v = row[col[2]]
  if col[2] == "module" then return v end
  if col[2] == "ms" then
    return string.format(v < 10 and "%.3f" or "%.1f", v) .. (row.runs < opts.reps and "*" or "")
  end
  return commas(v)
end

-- "* ..." under a table where a cell has fewer than --reps runs
local function footnote(rows)
  local few = {}
  for _, row in ipairs(rows) do
    if row.runs < opts.reps then
      local plural = row.runs == 1 and "" or "s"
      few[#few + 1] = string.format("%s %d run%s", row.module, row.runs, plural)
    end
  end
  if #few == 0 then return nil end
  return string.format("* fewer runs (%s): a cell adds no runs once it has taken %g s (--budget)",
                       table.concat(few, ", "), opts.budget)
end

local function print_text(S, rows)
  local widths = {}
  for c, col in ipairs(COLUMNS) do
    widths[c] = #col[1]
    for _, row in ipairs(rows) do widths[c] = math.max(widths[c], #cell(row, col)) end
  end
  local function line(values)
    local parts = {}
    for c, col in ipairs(COLUMNS) do
      local v = values[c]
      local padding = string.rep(" ", widths[c] - #v)
      parts[c] = col[3] and padding .. v or v .. padding
    end
    print(table.concat(parts, "  "))
  end
  print(string.format("batch %d, seq %d:", opts.batch, S))
  local head = {}
  for c, col in ipairs(COLUMNS) do head[c] = col[1] end
  line(head)
  for _, row in ipairs(rows) do
    local values = {}
    for c, col in ipairs(COLUMNS) do values[c] = cell(row, col) end
    line(values)
  end
  if footnote(rows) then print(footnote(rows)) end
end

local function print_markdown(S, rows)
  print(string.format("batch %d, seq %d:", opts.batch, S))
  print()
  local head, rule = {}, {}
  for c, col in ipairs(COLUMNS) do
    head[c] = col[1]
    rule[c] = col[3] and "---:" or ":---"
  end
  print("| " .. table.concat(head, " | ") .. " |")
  print("|" .. table.concat(rule, "|") .. "|")
  for _, row in ipairs(rows) do
    local values = {}
    for c, col in ipairs(COLUMNS) do values[c] = cell(row, col) end
    print("| " .. table.concat(values, " | ") .. " |")
  end
  print()
  if footnote(rows) then print(footnote(rows)) print() end
end

local CSV_FIELDS = { "module", "params", "linear_macs", "forward_flops", "backward_flops",
                     "kv_floats", "activations", "ms", "runs" }

local function print_csv(S, rows, first)
  if first then
    print("batch,seq,module,params,linear_macs,forward_flops,backward_flops," ..
          "kv_floats_per_token,kv_bytes_per_token,activation_bytes,fwd_bwd_ms,runs")
  end
  for _, row in ipairs(rows) do
    local values = { opts.batch, S }
    for _, k in ipairs(CSV_FIELDS) do
      local v = row[k]
      if k == "ms" then v = string.format("%.3f", v)
      elseif k ~= "module" then v = string.format("%.0f", v) end
      values[#values + 1] = v
      if k == "kv_floats" then values[#values + 1] = string.format("%.0f", 4 * row[k]) end
    end
    print(table.concat(values, ","))
  end
end

if text then
  print(string.format("hidden %d, %d heads; each variant's sizes (the width rule's unless given%s):",
                      D, H, opts.match and ", and the free size matched" or ""))
  print(compare.format(compared))
  print()
  local info = lunet.blas_info()
  print(string.format("FLOPs: 2 per multiply-add, all ops; ms: median of %d forward+backward runs " ..
                      "(OpenBLAS %s, %d threads).", opts.reps, info.corename, info.threads))
  print()
end
for k, S in ipairs(seqs) do
  local rows = measure(S)
  if opts.csv then print_csv(S, rows, k == 1)
  elseif opts.markdown then print_markdown(S, rows)
  else
    print_text(S, rows)
    if k < #seqs then print() end
  end
  io.stdout:flush()
end
