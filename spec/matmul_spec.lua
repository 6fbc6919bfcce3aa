-- Matrix products (src/core/ops_matmul.c, src/core/blas.c): values against plain
-- Lua triple loops for every shape rule of torch.matmul (vectors, batches,
-- broadcasting, zero sizes) on contiguous, transposed, expanded, narrowed
-- and strided inputs; every error message; gradchecks of each case; and
-- how OpenBLAS was loaded.
local lu = require "luaunit"
local lunet = require "lunet"
local H = require "helpers"

local randn = lunet.randn

-- ---------------------------------------------------------------- oracle

--[[
torch.matmul by definition: a 1-d x is a 1 x K row, a 1-d y a K x 1
column (their unit dim dropped from the result); batch dims (all but the
last two) broadcast from the right; each output element is a plain sum.
Returns a nested table (a number for a 0-d result).
--]]
local function naive_matmul(x, y)
  local xv, xs = H.flat(x), x:shape()
  local yv, ys = H.flat(y), y:shape()
  local as = #xs == 1 and { 1, xs[1] } or xs
  local bs = #ys == 1 and { ys[1], 1 } or ys
  local M, K, N = as[#as - 1], as[#as], bs[#bs]
  local na, nb = #as - 2, #bs - 2
  local n = math.max(na, nb)
  local batch = {}
  for i = 1, n do
    local da = i - (n - na) >= 1 and as[i - (n - na)] or 1
    local db = i - (n - nb) >= 1 and bs[i - (n - nb)] or 1
    assert(da == db or da == 1 or db == 1, "oracle: bad batch")
    batch[i] = da == 1 and db or da
  end
  -- flat offset of batch index idx (1-based) in an operand's batch dims
  local function boff(idx, shp, nd)
    local off = 0
    for i = 1, nd do
      local d = shp[i] == 1 and 0 or idx[i + (n - nd)] - 1
      off = off * shp[i] + d
    end
    return off
  end
  local function entry(idx, m, j)
    local ao = boff(idx, as, na) * M * K + (m - 1) * K
    local bo = boff(idx, bs, nb) * K * N + (j - 1)
    local s = 0.0
    for k = 1, K do s = s + xv[ao + k] * yv[bo + (k - 1) * N + 1] end
    return s
  end
  local oshape = {}
  for i = 1, n do oshape[i] = batch[i] end
  if #xs > 1 then oshape[#oshape + 1] = M end
  if #ys > 1 then oshape[#oshape + 1] = N end
  local idx = {}
  local function rec(d)
    if d > n then
      if #xs == 1 and #ys == 1 then return entry(idx, 1, 1) end
      if #xs == 1 then
        local row = {}
        for j = 1, N do row[j] = entry(idx, 1, j) end
        return row
      end
      local mat = {}
      for m = 1, M do
        if #ys == 1 then mat[m] = entry(idx, m, 1)
        else
          local row = {}
          for j = 1, N do row[j] = entry(idx, m, j) end
          mat[m] = row
        end
      end
      return mat
    end
    local t = {}
    for i = 1, batch[d] do idx[d] = i; t[i] = rec(d + 1) end
    return t
  end
  return rec(1), oshape
end

-- lunet.matmul(x, y) has the oracle's shape and values
local function check(x, y, fn)
  local z = (fn or lunet.matmul)(x, y)
  local want, wshape = naive_matmul(x, y)
  lu.assertEquals(z:shape(), wshape)
  H.assert_close(z, want, 1e-4)
  return z
end

local function mm(a, b) return lunet.matmul(a, b) end

-- ---------------------------------------------------------------- values

TestMatmul = {}

function TestMatmul:setUp() lunet.manual_seed(7) end

function TestMatmul:test_2d()
  check(randn{3, 4}, randn{4, 5})
  check(randn{1, 1}, randn{1, 1})
  check(randn{33, 70}, randn{70, 17})      -- odd sizes through real kernels
end

function TestMatmul:test_method_form()
  local a, b = randn{3, 4}, randn{4, 2}
  H.assert_close(a:matmul(b), lunet.matmul(a, b), 0)
  check(a, b, function(x, y) return x:matmul(y) end)
end

function TestMatmul:test_vectors()
  local z = check(randn{5}, randn{5})      -- dot: 0-d
  lu.assertEquals(z:dim(), 0)
  check(randn{4}, randn{4, 3})             -- {4} @ {4,3} -> {3}
  check(randn{3, 4}, randn{4})             -- {3,4} @ {4} -> {3}
  check(randn{4}, randn{2, 4, 3})          -- -> {2,3}
  check(randn{2, 3, 4}, randn{4})          -- -> {2,3}
  check(randn{1}, randn{1, 6})
end

function TestMatmul:test_batched()
  check(randn{2, 3, 4}, randn{2, 4, 5})
  check(randn{2, 2, 3, 4}, randn{2, 2, 4, 5})
  check(randn{1, 3, 4}, randn{1, 4, 5})
end

function TestMatmul:test_broadcast()
  local z = check(randn{2, 1, 3, 4}, randn{5, 4, 6})
  lu.assertEquals(z:shape(), { 2, 5, 3, 6 })
  check(randn{3, 4}, randn{2, 4, 5})       -- a shared by the batch
  check(randn{2, 3, 4}, randn{4, 5})       -- b shared: folded into one sgemm
  check(randn{2, 2, 3, 4}, randn{4, 5})
  check(randn{2, 1, 3, 4}, randn{1, 3, 4, 2})
  check(randn{1, 3, 4}, randn{3, 4, 2})
end

function TestMatmul:test_transposed()
  local a, b = randn{4, 3}, randn{5, 4}
  check(a:t(), b:t())                      -- both column-major: trans flags
  check(a:t(), randn{4, 2})
  check(randn{2, 5}, b)
  check(randn{2, 4}, b:t())
  check(randn{2, 4, 3}:transpose(-1, -2), randn{2, 4, 5})
  check(randn{2, 3, 4}, randn{2, 5, 4}:transpose(2, 3))
  check(randn{2, 4, 3}:transpose(-1, -2), randn{4, 2})  -- no fold: a is trans
  check(randn{3, 2, 4}:transpose(1, 2), randn{4, 5})    -- batch stride < rows
  check(randn{4, 3}:t(), randn{4})
end

function TestMatmul:test_expanded()
  check(randn{3, 4}:unsqueeze(1):expand{5, 3, 4}, randn{5, 4, 6})
  check(randn{3, 4}:unsqueeze(1):expand{5, 3, 4}, randn{4, 6})
  check(randn{2, 3}, randn{3, 4}:unsqueeze(1):expand{6, 3, 4})
  check(randn{3, 1}:expand{3, 4}, randn{4, 2})          -- stride-0 columns
  check(randn{2, 3}, randn{1, 4}:expand{3, 4})          -- stride-0 rows
  check(randn{1}:expand{4}, randn{4, 3})                -- stride-0 vector
  check(randn{3, 4}, randn{1}:expand{4})
end

function TestMatmul:test_narrowed_and_strided()
  local big = randn{6, 8}
  check(big:narrow(1, 2, 3):narrow(2, 3, 4), randn{4, 5})  -- ld 8 > cols
  check(randn{3, 4}, big:narrow(2, 2, 5):narrow(1, 1, 4))
  check(randn{4, 3}:select(2, 2), randn{4, 2})            -- vector, stride 3
  check(randn{2, 4}, randn{4, 3}:select(2, 1))
  check(randn{5, 3}:select(2, 3), randn{5, 3}:select(2, 1))
  -- neither stride is 1: the one case that is copied
  check(randn{3, 4, 5}:select(3, 2), randn{4, 2})
  check(randn{2, 3}, randn{3, 4, 5}:select(3, 2))
  check(randn{2, 3, 4, 5}:select(4, 5), randn{2, 4, 3})
end

function TestMatmul:test_zero_sizes()
  lu.assertEquals(mm(randn{0, 4}, randn{4, 5}):shape(), { 0, 5 })
  lu.assertEquals(mm(randn{3, 4}, randn{4, 0}):shape(), { 3, 0 })
  lu.assertEquals(mm(randn{2, 0, 3, 4}, randn{4, 5}):shape(), { 2, 0, 3, 5 })
  lu.assertEquals(mm(randn{0, 3, 4}, randn{1, 4, 5}):shape(), { 0, 3, 5 })
  -- K == 0 is an empty sum: zeros (the output buffer must not be garbage)
  local z = mm(randn{3, 0}, randn{0, 5})
  H.assert_close(z, lunet.zeros{3, 5}, 0)
  H.assert_close(mm(randn{0}, randn{0}), 0, 0)
  H.assert_close(mm(randn{2, 2, 0}, randn{0}), lunet.zeros{2, 2}, 0)
end

function TestMatmul:test_bmm()
  check(randn{2, 3, 4}, randn{2, 4, 5}, lunet.bmm)
  check(randn{2, 4, 3}:transpose(2, 3), randn{2, 5, 4}:transpose(2, 3), lunet.bmm)
  check(randn{3, 2, 4}, randn{3, 4, 1}, function(x, y) return x:bmm(y) end)
  lu.assertEquals(lunet.bmm(randn{0, 2, 3}, randn{0, 3, 4}):shape(), { 0, 2, 4 })
end

function TestMatmul:test_grad_fn_and_no_grad()
  local a, b = H.leaf(randn{2, 3}), randn{3, 4}
  lu.assertEquals(mm(a, b).grad_fn, "MatmulBackward")
  lu.assertEquals(lunet.bmm(a:unsqueeze(1), b:unsqueeze(1)).grad_fn, "BmmBackward")
  lu.assertNil(mm(randn{2, 3}, b).grad_fn)
  lunet.no_grad(function() lu.assertNil(mm(a, b).grad_fn) end)
end

-- ---------------------------------------------------------------- errors

TestMatmulErrors = {}

function TestMatmulErrors:test_align()
  lu.assertErrorMsgContains("matmul: shapes {2,3} and {4,5} do not align (3 ~= 4)",
                            mm, randn{2, 3}, randn{4, 5})
  lu.assertErrorMsgContains("matmul: shapes {3} and {4} do not align (3 ~= 4)", mm, randn{3}, randn{4})
  lu.assertErrorMsgContains("matmul: shapes {2,3} and {2} do not align (3 ~= 2)", mm, randn{2, 3}, randn{2})
  lu.assertErrorMsgContains("matmul: shapes {2} and {2,3,4} do not align (2 ~= 3)", mm, randn{2}, randn{2, 3, 4})
  lu.assertErrorMsgContains("matmul: shapes {2,3} and {4,5} do not align (3 ~= 4)",
                            function() return randn{2, 3}:matmul(randn{4, 5}) end)
end

function TestMatmulErrors:test_scalars()
  lu.assertErrorMsgContains("matmul: 0-d tensor", mm, 2, randn{3})
  lu.assertErrorMsgContains("matmul: 0-d tensor (shapes {3} and {})", mm, randn{3}, 2)
  lu.assertErrorMsgContains("matmul: 0-d tensor", mm, randn{3}:sum(), randn{3})
end

function TestMatmulErrors:test_batch_broadcast()
  lu.assertErrorMsgContains("matmul: batch dims {2,3} and {4} do not broadcast",
                            mm, randn{2, 3, 4, 5}, randn{4, 5, 6})
  lu.assertErrorMsgContains("matmul: batch dims {2} and {3} do not broadcast",
                            mm, randn{2, 3, 4}, randn{3, 4, 5})
end

function TestMatmulErrors:test_bmm()
  lu.assertErrorMsgContains("bmm: expected 3-d tensors, got {2,3,4} and {4,5}",
                            lunet.bmm, randn{2, 3, 4}, randn{4, 5})
  lu.assertErrorMsgContains("bmm: expected 3-d tensors, got {3} and {1,3,4}",
                            lunet.bmm, randn{3}, randn{1, 3, 4})
  lu.assertErrorMsgContains("bmm: batch sizes 2 and 3 differ (shapes {2,3,4} and {3,4,5})",
                            lunet.bmm, randn{2, 3, 4}, randn{3, 4, 5})
  lu.assertErrorMsgContains("bmm: shapes {2,3,4} and {2,5,6} do not align (4 ~= 5)",
                            lunet.bmm, randn{2, 3, 4}, randn{2, 5, 6})
end

function TestMatmulErrors:test_bad_arguments()
  lu.assertErrorMsgContains("matmul", mm, randn{2, 2}, "x")
  lu.assertErrorMsgContains("matmul", mm, nil, randn{2, 2})
  lu.assertErrorMsgContains("set_num_threads: expected a count >= 1, got 0",
                            lunet.set_num_threads, 0)
  lu.assertErrorMsgContains("set_num_threads: expected a count >= 1, got -2",
                            lunet.set_num_threads, -2)
  lu.assertErrorMsgContains("number expected", lunet.set_num_threads, "many")
  lu.assertErrorMsgContains("_sgemm_bench: bad sizes", lunet._sgemm_bench, -1, 2, 2, 1)
end

-- ---------------------------------------------------------------- gradients

TestMatmulGrad = {}

function TestMatmulGrad:setUp() lunet.manual_seed(11) end

local L = H.leaf

function TestMatmulGrad:test_2d_and_vectors()
  H.gradcheck(mm, { L(randn{3, 4}), L(randn{4, 5}) })
  H.gradcheck(mm, { L(randn{5}), L(randn{5}) })
  H.gradcheck(mm, { L(randn{4}), L(randn{4, 3}) })
  H.gradcheck(mm, { L(randn{3, 4}), L(randn{4}) })
  H.gradcheck(mm, { L(randn{4}), L(randn{2, 4, 3}) })
  H.gradcheck(mm, { L(randn{2, 3, 4}), L(randn{4}) })
end

function TestMatmulGrad:test_batched_and_broadcast()
  H.gradcheck(mm, { L(randn{2, 3, 4}), L(randn{2, 4, 5}) })
  H.gradcheck(mm, { L(randn{2, 1, 3, 4}), L(randn{5, 4, 2}) })
  H.gradcheck(mm, { L(randn{2, 3, 4}), L(randn{4, 5}) })     -- folded grad_b
  H.gradcheck(mm, { L(randn{2, 2, 3, 4}), L(randn{4, 5}) })
  H.gradcheck(mm, { L(randn{3, 4}), L(randn{2, 4, 5}) })     -- a summed over batch
  H.gradcheck(mm, { L(randn{1, 3, 4}), L(randn{2, 4, 2}) })
  H.gradcheck(lunet.bmm, { L(randn{2, 3, 4}), L(randn{2, 4, 2}) })
end

function TestMatmulGrad:test_non_contiguous()
  H.gradcheck(mm, { L(randn{4, 3}:t()), L(randn{5, 4}:t()) })
  H.gradcheck(mm, { L(randn{2, 4, 3}:transpose(2, 3)), L(randn{4, 5}) })
  H.gradcheck(mm, { L(randn{3, 2, 4}:transpose(1, 2)), L(randn{4, 5}) })
  H.gradcheck(mm, { L(randn{6, 8}:narrow(1, 2, 3):narrow(2, 3, 4)), L(randn{4, 2}) })
  H.gradcheck(mm, { L(randn{4, 3}:select(2, 2)), L(randn{4, 3, 5}:select(3, 2)) })
  -- expanded inputs: expand inside fn (a gradcheck leaf must not overlap)
  H.gradcheck(function(a, b) return mm(a:unsqueeze(1):expand{3, 2, 4}, b) end,
              { L(randn{2, 4}), L(randn{3, 4, 2}) })
  H.gradcheck(function(a, b) return mm(a, b:expand{4, 3}) end,
              { L(randn{2, 4}), L(randn{1, 3}) })
  H.gradcheck(function(a, b) return mm(a:expand{4}, b) end,
              { L(randn{1}), L(randn{4, 3}) })
end

function TestMatmulGrad:test_one_side_only()
  H.gradcheck(mm, { L(randn{2, 3, 4}), randn{4, 5} })
  H.gradcheck(mm, { randn{2, 3, 4}, L(randn{4, 5}) })
  H.gradcheck(mm, { randn{4}, L(randn{2, 4, 3}) })
end

function TestMatmulGrad:test_zero_sizes()
  local a, b = L(randn{3, 0}), L(randn{0, 5})
  mm(a, b):sum():backward()
  lu.assertEquals(a.grad:shape(), { 3, 0 })
  lu.assertEquals(b.grad:shape(), { 0, 5 })
  a, b = L(randn{0, 4}), L(randn{4, 5})
  mm(a, b):sum():backward()
  H.assert_close(b.grad, lunet.zeros{4, 5}, 0)
end

-- the grads themselves against their formulas, once, on a folded Linear
function TestMatmulGrad:test_linear_grads_by_formula()
  local x, w = L(randn{2, 3, 4}), L(randn{4, 5})
  local g = randn{2, 3, 5}
  mm(x, w):backward(g)
  H.assert_close(x.grad, naive_matmul(g, w:detach():t()), 1e-4)
  local gw = naive_matmul(x:detach():reshape{6, 4}:t(), g:reshape{6, 5})
  H.assert_close(w.grad, gw, 1e-4)
end

-- ---------------------------------------------------------------- OpenBLAS

TestBlas = {}

-- does /proc/cpuinfo list what OpenBLAS's SkylakeX kernels need?
local function cpu_has_avx512()
  local s = H.read_file("/proc/cpuinfo")
  if not s then return nil end
  local flags = s:match("\nflags%s*:([^\n]*)") or ""
  for _, need in ipairs { "avx512f", "avx512dq", "avx512bw", "avx512vl" } do
    if not flags:find(" " .. need .. "%f[%s]") and not flags:find(" " .. need .. "$") then
      return false
    end
  end
  return true
end

-- run `lunet -e` in a child with env prefix; returns corename, source
local function child_blas(envprefix)
  local prog = os.getenv("LUNET_PROGRAM")
  if not prog then return nil end
  local out = H.sh(envprefix .. " " .. H.q(prog) .. " -e " ..
    H.q("local i = require('lunet').blas_info(); " ..
        "io.write(i.corename, ' ', i.coretype_source, ' ', tostring(os.getenv('OPENBLAS_CORETYPE')))") ..
    " 2>&1")
  return out:match("^(%S+) (%S+) (%S+)$")
end

function TestBlas:test_info()
  local i = lunet.blas_info()
  lu.assertIsString(i.corename)
  lu.assertTrue(#i.corename > 0)
  lu.assertIsString(i.library)
  lu.assertStrContains(i.library, "openblas")
  lu.assertTrue(i.coretype_source == "user" or i.coretype_source == "lunet" or
                i.coretype_source == "openblas", i.coretype_source)
  lu.assertTrue(math.type(i.threads) == "integer" and i.threads >= 1)
  if os.getenv("OPENBLAS_CORETYPE") then
    lu.assertEquals(i.coretype_source, "user")
  elseif i.coretype_source == "lunet" then
    lu.assertEquals(i.corename, "SkylakeX")
  end
end

function TestBlas:test_coretype_choice_in_child()
  local core, src, env = child_blas("env -u OPENBLAS_CORETYPE")
  if core == nil then return end   -- no program to run (LUNET_PROGRAM unset)
  lu.assertEquals(env, "nil", "lunet's own OPENBLAS_CORETYPE must not stay set")
  if cpu_has_avx512() then
    lu.assertEquals(src, "lunet")
    lu.assertEquals(core, "SkylakeX")
  else
    lu.assertEquals(src, "openblas")
  end
  core, src, env = child_blas("env OPENBLAS_CORETYPE=Haswell")
  lu.assertEquals({ core, src, env }, { "Haswell", "user", "Haswell" })
end

function TestBlas:test_set_num_threads()
  local n = lunet.blas_info().threads
  lunet.set_num_threads(1)
  lu.assertEquals(lunet.blas_info().threads, 1)
  H.assert_close(mm(lunet.eye(3), lunet.ones{3, 2}), lunet.ones{3, 2}, 0)
  lunet.set_num_threads(n)
  lu.assertEquals(lunet.blas_info().threads, n)
end

function TestBlas:test_sgemm_bench_hook()
  local t = lunet._sgemm_bench(8, 8, 8, 3)
  lu.assertTrue(type(t) == "number" and t >= 0)
  lu.assertTrue(lunet._sgemm_bench(0, 4, 4, 1) >= 0)
  lu.assertTrue(lunet._sgemm_bench(5, 3, 7, 2, true, true) >= 0)   -- trans flags
  lu.assertTrue(lunet._sgemm_bench(5, 3, 7, 2, false, true) >= 0)
  local t0 = lunet._now()
  lu.assertTrue(lunet._now() >= t0)
end
