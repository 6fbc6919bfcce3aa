-- Attention-module benchmark (second half of `make bench`): forward and
-- forward+backward time of each attention module at the seeds' size
-- (batch 2, seq 10, hidden 256, 8 heads, the last half masked) and at a
-- longer sequence, against PyTorch running an independent implementation
-- of the same math (tools/bench_torch_modules.py) with the same OpenBLAS
-- kernels and threads, when Debian's python3-torch is installed.
-- Ratios are torch time / lunet time: above 1 lunet is faster.  Both run
-- on one thread by default (--threads): with two, PyTorch's OpenMP pool and
-- OpenBLAS's threads oversubscribe two cores and its timings go erratic.
--   lunet examples/bench_modules.lua [--seq 10,256] [--variants mha,mla] [--threads 1]
local lunet = require "lunet"
local nn = lunet.nn

local cli = require "lunet.cli"
local opts = cli.parse(cli.flags(cli.parser("bench_modules.lua",
  "Forward and forward+backward time of each attention module, against PyTorch when installed."), {
  { "seq", "10,256", "sequence lengths, comma separated" },
  { "variants", "mha,mqa,gqa,mla,gated", "attention variants, comma separated" },
  { "threads", "1", "OpenBLAS threads", cli.int(1) },
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

-- best of 3 rounds of >= 0.1 s, seconds per call
local function per_call(fn)
  fn()
  local best = math.huge
  for _ = 1, 3 do
    local reps, t0 = 0, lunet._now()
    repeat fn(); reps = reps + 1 until lunet._now() - t0 >= 0.1
    best = math.min(best, (lunet._now() - t0) / reps)
    collectgarbage()
  end
  return best
end

local function time_lunet(variant, B, S)
  lunet.manual_seed(0)
  local m = build[variant]()
  local x, g = lunet.randn { B, S, HIDDEN }, lunet.randn { B, S, HIDDEN }
  local mask = lunet.ones { B, S }
  for b = 1, B do for s = S // 2 + 1, S do mask:set({ b, s }, 0) end end
  local fwd = per_call(function() return lunet.no_grad(function() return m(x, mask) end) end)
  local xg = x:clone():requires_grad(true)
  local fb = per_call(function()
    m:zero_grad()
    xg.grad = nil
    m(xg, mask):backward(g)
  end)
  return fwd, fb
end

local function sh_quote(s) return "'" .. s:gsub("'", [['\'']]) .. "'" end
local function script_dir()
  return (debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$")) or "."
end

-- {case = {fwd, fb}} from PyTorch, or nil and why not
local function time_torch(cases, info)
  local py = os.getenv("LUNET_BENCH_PYTHON") or "/usr/bin/python3"
  if not os.execute(sh_quote(py) .. " -c 'import torch' >/dev/null 2>&1") then
    return nil, py .. " cannot import torch (Debian: apt-get install python3-torch)"
  end
  local cmd = string.format("OPENBLAS_CORETYPE=%s OPENBLAS_NUM_THREADS=%d OMP_NUM_THREADS=%d %s %s %d %s 2>&1",
    info.corename, info.threads, info.threads,
    sh_quote(py), sh_quote(script_dir() .. "/../tools/bench_torch_modules.py"),
    info.threads, table.concat(cases, " "))
  local p = io.popen(cmd)
  local out = p:read("a")
  p:close()
  local t = {}
  for case, f, b in out:gmatch("(%S+:%d+:%d+) (%S+) (%S+)") do t[case] = { tonumber(f), tonumber(b) } end
  local version = out:match("torch (%S+)")
  if not version then return nil, "tools/bench_torch_modules.py failed:\n" .. out end
  return t, version
end

lunet.set_num_threads(opts.threads)
local info = lunet.blas_info()
local cases = {}
for _, S in ipairs(list(opts.seq)) do
  local B = tonumber(S) <= 16 and 2 or 1
  for _, v in ipairs(list(opts.variants)) do cases[#cases + 1] = v .. ":" .. B .. ":" .. S end
end
local torch, why = time_torch(cases, info)
print(string.format("\nAttention modules, hidden %d, %d heads (OpenBLAS %s, %d threads); times in ms",
                    HIDDEN, HEADS, info.corename, info.threads))
print(torch and ("PyTorch " .. why .. ": tools/bench_torch_modules.py, same kernels and threads")
            or ("PyTorch: not compared (" .. why .. ")"))
local hdr = string.format("%-8s %3s %5s %9s %9s", "module", "B", "S", "fwd", "fwd+bwd")
if torch then hdr = hdr .. string.format(" %9s %9s %8s %8s", "torch fwd", "torch f+b", "t/l fwd", "t/l f+b") end
print(hdr)
print(string.rep("-", #hdr))
-- the first case measured pays for warming up (allocator, BLAS buffers,
-- clocks): measure one and throw it away, as the PyTorch side does
do
  local v, B, S = cases[1]:match("(%w+):(%d+):(%d+)")
  time_lunet(v, tonumber(B), tonumber(S))
end
for _, case in ipairs(cases) do
  local v, B, S = case:match("(%w+):(%d+):(%d+)")
  local f, fb = time_lunet(v, tonumber(B), tonumber(S))
  local line = string.format("%-8s %3s %5s %9.3f %9.3f", v, B, S, f * 1e3, fb * 1e3)
  local t = torch and torch[case]
  if t then
    line = line .. string.format(" %9.3f %9.3f %8.2f %8.2f", t[1] * 1e3, t[2] * 1e3, t[1] / f, t[2] / fb)
  end
  print(line)
end
