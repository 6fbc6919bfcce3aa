-- Training-step benchmark (first part of `make bench`): one AdamW step of
-- a small GPT (nn.TransformerLM, MHA, causal) on 1 and 2 threads, timed
-- in rounds that alternate between the thread counts and the bare sgemm
-- they are measured against, so every ratio compares moments of the same
-- machine.  Prints the step in ms, tokens/s, its FLOP rate as a share of
-- the same-run sgemm rate (2048x256x256, the shape of its projections),
-- page faults per step, and PyTorch's step (tools/bench_torch_gpt.py, the
-- same model) on 1 and 2 threads with the same OpenBLAS kernels.  Then
-- where the thread pool starts to pay: an add and a GELU at growing sizes
-- on 1 thread and on 2 (the work cut in eight chunks), against the grain
-- the pool is built with (src/core/pool.h, LT_PAR_GRAIN: work below it
-- stays on the calling thread).
-- Timings, not tests: nothing here passes or fails.
--   lunet examples/bench_gpt.lua [--rounds 3] [--steps 3] [--threads 1,2]   (--help)
local lunet = require "lunet"
local nn = lunet.nn

local cli = require "lunet.cli"
local opts = cli.parse(cli.flags(cli.parser("bench_gpt.lua",
  "One AdamW step of a small GPT on 1 and 2 threads, against the sgemm rate and PyTorch."), {
  { "rounds", 3, "rounds, each timing every thread count", cli.int(1) },
  { "steps", 3, "steps timed per round and thread count", cli.int(1) },
  { "threads", "1,2", "thread counts, comma separated", cli.list(cli.int(1)) },
}))
local ROUNDS, STEPS, THREADS = opts.rounds, opts.steps, opts.threads

local V, D, L, H, S, B = 64, 256, 4, 8, 128, 16
local now = lunet._now

-- ---------------------------------------------------------------- the step

lunet.manual_seed(0)
local model = nn.TransformerLM { vocab_size = V, d_model = D, n_layer = L, num_heads = H, max_len = S }
local opt = lunet.optim.AdamW(model:parameters(), { lr = 1e-3 })
local ids = lunet.tensor((function()
  local t = {}
  for b = 1, B do
    t[b] = {}
    for s = 1, S do t[b][s] = (b * 7 + s * 13) % V + 1 end
  end
  return t
end)())

local function step()
  local loss = lunet.cross_entropy(model(ids), ids)
  opt:zero_grad()
  loss:backward()
  opt:step()
end

local cost = lunet.profile.count(model, { B, S }, { backward = true })
local FLOP = cost.forward_flops + cost.backward_flops

-- best seconds per step over STEPS steps, and page faults per step
local function time_steps()
  local best, f0 = math.huge, lunet._rusage()
  for _ = 1, STEPS do
    local t0 = now()
    step()
    best = math.min(best, now() - t0)
  end
  return best, (lunet._rusage() - f0) / STEPS
end

-- the bare sgemm rate on this many threads, GFLOP/s, over ~0.2 s
local function sgemm_rate()
  local m, n, k = 2048, 256, 256
  local t1 = lunet._sgemm_bench(m, n, k, 2)
  local reps = math.max(2, math.ceil(0.2 / math.max(t1 / 2, 1e-6)))
  return 2 * m * n * k * reps / lunet._sgemm_bench(m, n, k, reps) / 1e9
end

-- ---------------------------------------------------------------- PyTorch

local function sh_quote(s) return "'" .. s:gsub("'", [['\'']]) .. "'" end
local function script_dir() return (debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$")) or "." end

-- seconds per step on `threads`, or nil and why not
local function torch_step(threads, core)
  local py = os.getenv("LUNET_BENCH_PYTHON") or "/usr/bin/python3"
  if not os.execute(sh_quote(py) .. " -c 'import torch' >/dev/null 2>&1") then
    return nil, py .. " cannot import torch (Debian: apt-get install python3-torch)"
  end
  local cmd = string.format(
    "OPENBLAS_CORETYPE=%s OPENBLAS_NUM_THREADS=%d OMP_NUM_THREADS=%d %s %s %d %d %d %d %d %d %d %d 2>&1",
    sh_quote(core), threads, threads, sh_quote(py), sh_quote(script_dir() .. "/../tools/bench_torch_gpt.py"),
    threads, ROUNDS * STEPS, V, D, L, H, S, B)
  local p = io.popen(cmd)
  local out = p:read("a")
  p:close()
  local t, version = out:match("step (%S+)"), out:match("torch (%S+)")
  if not (t and version) then return nil, "tools/bench_torch_gpt.py failed:\n" .. out end
  return tonumber(t), version
end

-- ---------------------------------------------------------------- run

local info = lunet.blas_info()
local t_start = now()
print(string.format("Training step: TransformerLM (MHA, causal) vocab %d, d_model %d, %d layers, %d heads,"
  .. " mlp 4x, seq %d, batch %d, AdamW", V, D, L, H, S, B))
print(string.format("%.1f GFLOP per step (lunet.profile.count, forward + backward); OpenBLAS core %s (%s)",
                    FLOP / 1e9, info.corename, info.coretype_source))

local default_threads = lunet.get_num_threads()
local best, faults, rate = {}, {}, {}
for _, th in ipairs(THREADS) do best[th], rate[th] = math.huge, 0 end
for _, th in ipairs(THREADS) do   -- warm-up: buffers, the cache, BLAS
  lunet.set_num_threads(th)
  step()
end
local f_first = lunet._rusage()
step()
f_first = lunet._rusage() - f_first
for _ = 1, ROUNDS do
  for _, th in ipairs(THREADS) do
    lunet.set_num_threads(th)
    local t, f = time_steps()
    best[th] = math.min(best[th], t)
    faults[th] = f                     -- the last round's, once the cache has settled
    rate[th] = math.max(rate[th], sgemm_rate())
    collectgarbage()
  end
end
lunet.set_num_threads(default_threads)

local torch, tver = {}, nil
for _, th in ipairs(THREADS) do
  local t, why = torch_step(th, info.corename)
  if not t then tver = why; torch = nil; break end
  torch[th], tver = t, why
end

local hdr = string.format("%7s %9s %9s %8s %12s %10s %12s", "threads", "step ms", "tokens/s",
                          "GFLOP/s", "sgemm GFLOP/s", "% of sgemm", "faults/step")
if torch then hdr = hdr .. string.format(" %9s %9s", "torch ms", "torch/l") end
print(hdr)
print(string.rep("-", #hdr))
local tbest = math.huge
if torch then for _, t in pairs(torch) do tbest = math.min(tbest, t) end end
for _, th in ipairs(THREADS) do
  local gf = FLOP / best[th] / 1e9
  local line = string.format("%7d %9.1f %9.0f %8.1f %12.1f %9.0f%% %12.0f", th, best[th] * 1e3,
                             B * S / best[th], gf, rate[th], 100 * gf / rate[th], faults[th])
  if torch then line = line .. string.format(" %9.1f %9.2f", torch[th] * 1e3, torch[th] / best[th]) end
  print(line)
end
if #THREADS >= 2 then
  local a, b = THREADS[1], THREADS[#THREADS]
  print(string.format("lunet %d threads / %d: %.2fx faster", b, a, best[a] / best[b]))
end
if torch then
  local th = THREADS[#THREADS]
  print(string.format("PyTorch %s best (%.1f ms) / lunet %d threads: %.2fx", tver, tbest * 1e3, th,
                      tbest / best[th]))
else
  print("PyTorch: not compared (" .. tver .. ")")
end
print(string.format("(best step of %d x %d per thread count; page faults: %d in the first step after"
  .. " warm-up, then per step in the last round; %.0f s)", ROUNDS, STEPS, f_first, now() - t_start))

-- ---------------------------------------------------------------- the pool's grain

-- microseconds per call of fn: the best of 5 rounds of >= 20 ms
local function us(fn)
  fn()
  local best = math.huge
  for _ = 1, 5 do
    local n, t0 = 0, now()
    repeat fn(); n = n + 1 until now() - t0 > 0.02
    best = math.min(best, (now() - t0) / n)
  end
  return best * 1e6
end

local grain = lunet._par_grain()
print(string.format("\nThe pool: an op's work cut in eight chunks, 1 thread vs 2 (us); the pool's"
  .. " grain is %.0f flops (add: 1 per element, gelu: 25)", grain))
print(string.format("%9s %8s %8s %6s %8s %8s %6s", "elements", "add 1", "add 2", "1/2", "gelu 1",
                    "gelu 2", "1/2"))
local wins = {}
for _, n in ipairs { 4096, 16384, 65536, 262144, 1048576 } do
  local a, b = lunet.randn { n }, lunet.randn { n }
  local r = { add = {}, gelu = {} }
  for _ = 1, 2 do
    for _, th in ipairs { 1, 2 } do
      lunet.set_num_threads(th)
      lunet._par_grain(n / 8 + 1)
      r.add[th] = math.min(r.add[th] or math.huge, us(function() return a + b end))
      lunet._par_grain(25 * n / 8 + 1)
      r.gelu[th] = math.min(r.gelu[th] or math.huge, us(function() return a:gelu() end))
    end
  end
  for op, cost in pairs { add = 1, gelu = 25 } do
    if not wins[op] and r[op][1] > 1.1 * r[op][2] then wins[op] = n * cost / 8 end
  end
  print(string.format("%9d %8.1f %8.1f %6.2f %8.1f %8.1f %6.2f", n, r.add[1], r.add[2],
                      r.add[1] / r.add[2], r.gelu[1], r.gelu[2], r.gelu[1] / r.gelu[2]))
end
lunet._par_grain(grain)
lunet.set_num_threads(default_threads)
print(string.format("(two threads win by 10%% from chunks of %s flops (add) and %s (gelu); the pool"
  .. " cuts chunks of %.0f flops, so smaller ops stay on one thread)", wins.add and string.format("%.0f", wins.add) or "-",
  wins.gelu and string.format("%.0f", wins.gelu) or "-", grain))
