-- Matrix-product benchmark (`make bench`).  For shapes lunet meets in
-- practice it measures, in this one run, lunet.matmul's rate against the
-- bare OpenBLAS sgemm rate on the same shapes (timed in C by
-- lunet._sgemm_bench), and against PyTorch when Debian's python3-torch is
-- installed (tools/bench_torch.py, given the same OpenBLAS kernels and
-- thread count).  Ratios are rate / rate: above 1 lunet is faster.
-- Timings, not tests: nothing here passes or fails.
--
-- LUNET_BENCH_PYTHON overrides the interpreter (default /usr/bin/python3,
-- the one Debian's torch is installed for).
local lunet = require "lunet"
local cli = require "lunet.cli"
cli.parse(cli.parser("bench.lua", "lunet.matmul's rate against OpenBLAS sgemm (and PyTorch) on the same shapes."))

local now = lunet._now
local TARGET, ROUNDS = 0.1, 3        -- each timing: best of 3 rounds >= 0.1 s

-- ---------------------------------------------------------------- cases

-- a, b: shapes; "T" transposes that operand's last two dims (a view);
-- fb: time forward + backward
local cases = {
  { "linear B*S=20",    { 2, 10, 256 },   { 256, 256 } },
  { "linear B*S=128",   { 4, 32, 256 },   { 256, 256 } },
  { "linear B*S=512",   { 8, 64, 256 },   { 256, 256 } },
  { "linear B*S=4096",  { 16, 256, 256 }, { 256, 256 } },
  { "attn q@k^T",       { 16, 128, 32 },  { 16, 32, 128 } },
  { "attn q@k^T (view)", { 16, 128, 32 }, { 16, 128, 32 }, bt = true },
  { "attn p@v",         { 16, 128, 128 }, { 16, 128, 32 } },
  { "square 64",        { 64, 64 },       { 64, 64 } },
  { "square 256",       { 256, 256 },     { 256, 256 } },
  { "square 1024",      { 1024, 1024 },   { 1024, 1024 } },
  { "fwd+bwd linear 20",   { 2, 10, 256 },   { 256, 256 }, fb = true },
  { "fwd+bwd linear 4096", { 16, 256, 256 }, { 256, 256 }, fb = true },
  { "fwd+bwd attn q@k^T",  { 16, 128, 32 },  { 16, 32, 128 }, fb = true },
}

-- the sgemm each case amounts to: batch x (m, n, k)
local function geometry(c)
  local a, b = c[2], c[3]
  local k, n = a[#a], c.bt and b[#b - 1] or b[#b]
  local rows = 1
  for i = 1, #a - 1 do rows = rows * a[i] end
  if #b == 2 then return 1, rows, n, k end       -- b shared: one folded sgemm
  return a[1], a[#a - 1], n, k
end

local function flops(c)
  local batch, m, n, k = geometry(c)
  return 2 * batch * m * n * k * (c.fb and 3 or 1)
end

local function key(c)                -- the case as tools/bench_torch.py reads it
  local function dims(s, t) return table.concat(s, "x") .. (t and "T" or "") end
  return (c.fb and "fb:" or "") .. dims(c[2]) .. "@" .. dims(c[3], c.bt)
end

-- ---------------------------------------------------------------- timing

-- seconds per call of fn over reps calls
local function round(fn, reps)
  local t0 = now()
  for _ = 1, reps do fn() end
  return (now() - t0) / reps
end

-- how many calls of fn fill TARGET seconds (after a warm-up call)
local function calibrate(fn)
  fn()
  local reps, t0 = 0, now()
  repeat fn(); reps = reps + 1 until now() - t0 >= TARGET / 4
  return reps * 4
end

-- the lunet.matmul call of case c (forward, or forward + backward)
local function lunet_fn(c)
  local a, b = lunet.randn(c[2]), lunet.randn(c[3])
  if c.bt then b = b:transpose(-1, -2) end
  if not c.fb then return function() return lunet.matmul(a, b) end end
  a, b = a:detach():requires_grad(true), b:detach():requires_grad(true)
  local g = lunet.randn(lunet.no_grad(function() return lunet.matmul(a, b) end):shape())
  return function()
    a.grad, b.grad = nil, nil
    lunet.matmul(a, b):backward(g)
  end
end

--[[
Seconds per call of lunet and of the bare sgemm calls the case amounts to
(one per batch element; x3 for fb).  Rounds alternate between the two so
that both see the same machine: on shared cores OpenBLAS's thread
hand-offs make timings drift, and a ratio of two moments means little.
--]]
local function time_case(c)
  local batch, m, n, k = geometry(c)
  local fn = lunet_fn(c)
  local lreps = calibrate(fn)
  local t1 = lunet._sgemm_bench(m, n, k, batch, false, c.bt)
  local sreps = math.max(1, math.ceil(TARGET / math.max(t1, 1e-7)))
  local tl, ts = math.huge, math.huge
  for _ = 1, ROUNDS do
    tl = math.min(tl, round(fn, lreps))
    ts = math.min(ts, lunet._sgemm_bench(m, n, k, sreps * batch, false, c.bt) / sreps)
    collectgarbage()
  end
  return tl, ts * (c.fb and 3 or 1)
end

-- ---------------------------------------------------------------- PyTorch

local function script_dir()
  local src = debug.getinfo(1, "S").source
  return src:match("^@(.*)/[^/]*$") or "."
end

local function sh_quote(s) return "'" .. s:gsub("'", [['\'']]) .. "'" end

-- {key = seconds} from tools/bench_torch.py, or nil and why not
local function time_torch(info)
  local py = os.getenv("LUNET_BENCH_PYTHON") or "/usr/bin/python3"
  if not os.execute(sh_quote(py) .. " -c 'import torch' >/dev/null 2>&1") then
    return nil, py .. " cannot import torch (Debian: apt-get install python3-torch)"
  end
  local keys = {}
  for i, c in ipairs(cases) do keys[i] = sh_quote(key(c)) end
  local cmd = string.format(
    "OPENBLAS_CORETYPE=%s OPENBLAS_NUM_THREADS=%d OMP_NUM_THREADS=%d %s %s %d %s 2>&1",
    sh_quote(info.corename), info.threads, info.threads, sh_quote(py),
    sh_quote(script_dir() .. "/../tools/bench_torch.py"), info.threads,
    table.concat(keys, " "))
  local p = io.popen(cmd)
  local out = p:read("a")
  p:close()
  local t, version = {}, out:match("\ntorch (%S+)") or out:match("^torch (%S+)")
  for k, v in out:gmatch("(%S+) ([%d.e+-]+)\n") do t[k] = tonumber(v) end
  if not version then return nil, "tools/bench_torch.py failed:\n" .. out end
  return t, version
end

-- ---------------------------------------------------------------- report

local info = lunet.blas_info()
print(string.format("OpenBLAS: core %s (chosen by: %s), %d thread%s, %s",
                    info.corename, info.coretype_source, info.threads,
                    info.threads == 1 and "" or "s", info.library))

local t_start = now()
local torch, why = time_torch(info)
if torch then
  print(string.format("PyTorch %s: same OpenBLAS core (OPENBLAS_CORETYPE=%s), %d threads",
                      why, info.corename, info.threads))
else
  print("PyTorch: not compared (" .. why .. ")")
end
print("GFLOP/s (higher is better); ratio = lunet rate / other rate, > 1: lunet faster\n")

local hdr = string.format("%-22s %-26s %8s %8s %7s", "case", "shapes", "lunet",
                          "sgemm", "l/sgemm")
if torch then hdr = hdr .. string.format(" %8s %7s", "torch", "l/torch") end
print(hdr)
print(string.rep("-", #hdr))

for _, c in ipairs(cases) do
  local tl, ts = time_case(c)
  local f = flops(c) / 1e9
  local shapes = table.concat(c[2], "x") .. " @ " .. table.concat(c[3], "x") ..
                 (c.bt and "^T" or "")
  local line = string.format("%-22s %-26s %8.1f %8.1f %7.2f", c[1], shapes, f / tl,
                             f / ts, ts / tl)
  if torch then
    local tt = torch[key(c)]
    line = line .. (tt and string.format(" %8.1f %7.2f", f / tt, tt / tl) or "       -       -")
  end
  print(line)
end

print(string.format("\n(sgemm: bare row-major sgemm calls on reused buffers, one per batch "
  .. "element, with the product's m, n, k and trans flags; fwd+bwd counts 3 products.\n"
  .. " PyTorch runs first, in its own process; lunet and sgemm rounds alternate.  %.1f s)",
  now() - t_start))
