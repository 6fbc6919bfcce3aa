-- Attention-module benchmark (second part of `make bench`): forward +
-- backward of each attention module (hidden 256, 8 heads, the last half of
-- each sequence masked as in the seeds) at several batch x sequence
-- shapes, on lunet's 1 and 2 threads (rounds alternate between them),
-- against PyTorch running an independent implementation of the same math
-- (tools/bench_torch_modules.py) with the same OpenBLAS kernels, at its
-- best of 1 and 2 threads.  Also the bytes each module keeps from forward
-- to backward, and, for the longest MHA case, the peak memory of both.
-- Ratios are torch time / lunet time: above 1 lunet is faster.
--   lunet examples/bench_modules.lua [--shapes 2x10,4x128,16x256,1x512,1x4096]
--                                    [--variants mha,mqa,gqa,mla,gated] [--threads 1,2]
--                                    [--long 8192]   (--help lists them)
local lunet = require "lunet"
local nn = lunet.nn

local cli = require "lunet.cli"
local opts = cli.parse(cli.flags(cli.parser("bench_modules.lua",
  "Forward + backward time of each attention module on 1 and 2 threads, against PyTorch"
  .. " when installed."), {
  { "shapes", "2x10,4x128,16x256,1x512,1x4096", "batch x sequence shapes, comma separated" },
  { "variants", "mha,mqa,gqa,mla,gated", "attention variants, comma separated" },
  { "threads", "1,2", "lunet's (and PyTorch's) thread counts, comma separated",
    cli.list(cli.int(1)) },
  { "long", 8192, "MHA's long sequence, time and peak memory (0: none)", cli.int(0) },
}))

local function list(s)
  local t = {}
  for v in s:gmatch("[^,]+") do t[#t + 1] = v end
  return t
end

local HIDDEN, HEADS = 256, 8
local build = {
  mha = function() return nn.MHA { hidden_size = HIDDEN, num_heads = HEADS } end,
  mqa = function() return nn.MQA { hidden_size = HIDDEN, num_heads = HEADS } end,
  gqa = function() return nn.GQA { hidden_size = HIDDEN, num_heads = HEADS, group_size = 2 } end,
  mla = function() return nn.MLA { hidden_size = HIDDEN, num_heads = HEADS } end,
  gated = function() return nn.GatedAttention { d_model = HIDDEN, num_heads = HEADS } end,
}

-- seconds per call: the best of 3 rounds of >= 0.1 s after a warm-up
-- call; a call of over a second is timed once, warm-up and all
local function per_call(fn)
  local t0 = lunet._now()
  fn()
  local first = lunet._now() - t0
  if first > 1 then return first end
  local best = math.huge
  for _ = 1, 3 do
    local reps = 0
    t0 = lunet._now()
    repeat fn(); reps = reps + 1 until lunet._now() - t0 >= 0.1
    best = math.min(best, (lunet._now() - t0) / reps)
    collectgarbage()
  end
  return best
end

-- a module, input, mask and output gradient for one case
local function setup(variant, B, S)
  lunet.manual_seed(0)
  local m = build[variant]()
  local x, g = lunet.randn { B, S, HIDDEN }:requires_grad(true), lunet.randn { B, S, HIDDEN }
  local mask = lunet.ones { B, S }
  lunet.no_grad(function() mask:narrow(2, S // 2 + 1, S - S // 2):fill_(0) end)
  local function step()
    m:zero_grad()
    x.grad = nil
    m(x, mask):backward(g)
  end
  -- bytes the graph keeps from forward to backward
  local function kept()
    collectgarbage()
    local m0 = lunet.memory_allocated()
    local out = m(x, mask)
    local k = lunet.memory_allocated() - m0 - 4 * out:numel()
    out = nil
    collectgarbage()
    return k
  end
  return step, kept
end

local function sh_quote(s) return "'" .. s:gsub("'", [['\'']]) .. "'" end
local function script_dir() return (debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$")) or "." end

-- {case = seconds} from PyTorch on `threads`, or nil and why not
local function time_torch(cases, threads, core)
  local py = os.getenv("LUNET_BENCH_PYTHON") or "/usr/bin/python3"
  if not os.execute(sh_quote(py) .. " -c 'import torch' >/dev/null 2>&1") then
    return nil, py .. " cannot import torch (Debian: apt-get install python3-torch)"
  end
  local cmd = string.format("OPENBLAS_CORETYPE=%s OPENBLAS_NUM_THREADS=%d OMP_NUM_THREADS=%d %s %s %d %s 2>&1",
    sh_quote(core), threads, threads, sh_quote(py),
    sh_quote(script_dir() .. "/../tools/bench_torch_modules.py"), threads, table.concat(cases, " "))
  local p = io.popen(cmd)
  local out = p:read("a")
  p:close()
  local t = {}
  for case, fb, peak in out:gmatch("(%S+:%d+:%d+) (%S+) (%S+)") do
    t[case] = { tonumber(fb), tonumber(peak) }
  end
  local version = out:match("torch (%S+)")
  if not version then return nil, "tools/bench_torch_modules.py failed:\n" .. out end
  return t, version
end

-- ---------------------------------------------------------------- run

local THREADS = opts.threads
local cases = {}
for _, shape in ipairs(list(opts.shapes)) do
  local B, S = shape:match("^(%d+)x(%d+)$")
  assert(B, "--shapes: BxS, e.g. 4x128")
  for _, v in ipairs(list(opts.variants)) do cases[#cases + 1] = v .. ":" .. B .. ":" .. S end
end
local long = opts.long
local info = lunet.blas_info()
local t_start = lunet._now()
local default_threads = lunet.get_num_threads()

-- PyTorch first, in its own processes; the long case in one of its own,
-- so that its peak memory is that process's
local torch, tver = {}, nil
for _, th in ipairs(THREADS) do
  for _, list_ in ipairs { cases, long > 0 and { "mha:1:" .. long } or nil } do
    local t, why = time_torch(list_, th, info.corename)
    if not t then torch, tver = nil, why; break end
    for case, v in pairs(t) do
      local best = torch[case]
      if best == nil or v[1] < best[1] then torch[case] = v end
    end
    tver = why
  end
  if not torch then break end
end

-- lunet's long case first too, while this process's peak is low
local long_ms, long_mb
if long > 0 then
  local step = setup("mha", 1, long)
  collectgarbage()
  local _, rss0 = lunet._rusage()
  long_ms = per_call(step)
  local _, rss1 = lunet._rusage()
  long_mb = (rss1 - rss0) / 1024
  step = nil
  collectgarbage()
end

print(string.format("\nAttention modules, hidden %d, %d heads, last half of each sequence masked;"
  .. " forward + backward in ms (OpenBLAS %s)", HIDDEN, HEADS, info.corename))
print(torch and ("PyTorch " .. tver .. ": tools/bench_torch_modules.py, same kernels, best of threads "
                 .. table.concat(THREADS, ",")) or ("PyTorch: not compared (" .. tver .. ")"))
local hdr = string.format("%-6s %3s %5s", "module", "B", "S")
for _, th in ipairs(THREADS) do hdr = hdr .. string.format(" %8s", "lunet " .. th) end
hdr = hdr .. string.format(" %9s", "kept MB")
if torch then hdr = hdr .. string.format(" %9s %8s", "torch", "torch/l") end
print(hdr)
print(string.rep("-", #hdr))

-- the first case measured pays for warming up: measure one, throw it away
do
  local v, B, S = cases[1]:match("(%w+):(%d+):(%d+)")
  per_call((setup(v, tonumber(B), tonumber(S))))
end
for _, case in ipairs(cases) do
  local v, B, S = case:match("(%w+):(%d+):(%d+)")
  local step, kept = setup(v, tonumber(B), tonumber(S))
  local best = {}
  for round = 1, 2 do                  -- rounds alternate between thread counts
    for _, th in ipairs(THREADS) do
      lunet.set_num_threads(th)
      best[th] = math.min(best[th] or math.huge, per_call(step))
    end
    if best[THREADS[1]] > 1 then break end   -- one round of slow calls is enough
  end
  lunet.set_num_threads(default_threads)
  local line = string.format("%-6s %3s %5s", v, B, S)
  local lbest = math.huge
  for _, th in ipairs(THREADS) do
    line = line .. string.format(" %8.2f", best[th] * 1e3)
    lbest = math.min(lbest, best[th])
  end
  line = line .. string.format(" %9.1f", kept() / 2 ^ 20)
  local t = torch and torch[case]
  if t then line = line .. string.format(" %9.2f %8.2f", t[1] * 1e3, t[1] / best[THREADS[#THREADS]]) end
  print(line)
  collectgarbage()
end

-- the long sequence: MHA on the default threads, time and peak memory
if long > 0 then
  local line = string.format("mha 1x%d on %d threads: %.0f ms, peak +%.0f MB", long,
                             default_threads, long_ms * 1e3, long_mb)
  local tt = torch and torch["mha:1:" .. long]
  if tt then
    line = line .. string.format("; PyTorch's best %.0f ms, peak +%.0f MB: %.1fx the time,"
      .. " %.0fx the memory", tt[1] * 1e3, tt[2] / 1024, tt[1] / long_ms, tt[2] / 1024 / math.max(long_mb, 1))
  end
  print(line)
end
print(string.format("(lunet columns: %s threads; torch/l: PyTorch's best / lunet on %d threads;"
  .. " kept: bytes the graph holds for backward; %.0f s)", table.concat(THREADS, ","), THREADS[#THREADS],
  lunet._now() - t_start))
