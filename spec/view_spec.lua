-- Views and joins: view/reshape (and when they share storage), transpose,
-- t, permute, narrow, select, expand, unsqueeze/squeeze/flatten,
-- contiguous/clone/detach, split/chunk, cat/stack.  Values against plain
-- Lua index arithmetic on nested tables; gradients by gradcheck, also on
-- non-contiguous leaves.
local lu = require "luaunit"
local lunet = require "lunet"
local H = require "helpers"

-- ---------------------------------------------------------------- oracles

-- the row-major values of src laid out in shape
local function ref_reshape(src, shape) return H.unflat(H.flat(src), shape) end

-- out[idx] = src[in] with in[perm[i]] = idx[i]
local function ref_permute(src, shape, perm)
  local out_shape = {}
  for i, p in ipairs(perm) do out_shape[i] = shape[p] end
  return H.build(out_shape, function(idx)
    local src_idx = {}
    for i, p in ipairs(perm) do src_idx[p] = idx[i] end
    return H.at(src, src_idx)
  end)
end

local function ref_narrow(src, shape, d, start, len)
  local s = {table.unpack(shape)}
  s[d] = len
  return H.build(s, function(idx)
    local j = {table.unpack(idx)}
    j[d] = j[d] + start - 1
    return H.at(src, j)
  end)
end

local function ref_select(src, shape, d, i)
  local s = {}
  for k = 1, #shape do if k ~= d then s[#s + 1] = shape[k] end end
  return H.build(s, function(idx)
    local j = {}
    for k = 1, #shape do
      if k < d then j[k] = idx[k] elseif k == d then j[k] = i else j[k] = idx[k - 1] end
    end
    return H.at(src, j)
  end)
end

-- distinct values 1, 2, ... in row-major order, so any misplacement shows
local function ramp(shape)
  local k = 0
  local src = H.build(shape, function() k = k + 1; return k end)
  return lunet.tensor(src), src
end

-- does b see a write made to a's first element?  (the write is undone)
local function shares(a, b)
  local idx = {}
  for d = 1, a:dim() do idx[d] = 1 end
  local old = a:get(idx)
  local before = H.flat(b)
  lunet.no_grad(function() a:set(idx, old + 1000) end)
  local after = H.flat(b)
  lunet.no_grad(function() a:set(idx, old) end)
  for k = 1, #before do if before[k] ~= after[k] then return true end end
  return false
end

local function leaf(shape) return H.leaf(lunet.randn(shape)) end
-- non-contiguous leaves of the given shape
local function leaf_t(shape)   -- 2-d transposed
  return H.leaf(lunet.randn{shape[2], shape[1]}:t())
end
local function leaf_narrow(shape)   -- narrowed along the last dim
  local s = {table.unpack(shape)}
  s[#s] = s[#s] + 3
  return H.leaf(lunet.randn(s):narrow(-1, 2, shape[#shape]))
end

-- ---------------------------------------------------------------- view, reshape

TestView = {}

function TestView:setUp() lunet.manual_seed(41) end

function TestView:test_view_values_and_sharing()
  local x, src = ramp({4, 6})
  local v = x:view{2, 3, 4}
  lu.assertEquals(v:shape(), {2, 3, 4})
  lu.assertEquals(v:totable(), ref_reshape(src, {2, 3, 4}))
  lu.assertEquals(x:view(3, 8):shape(), {3, 8})   -- varargs form
  lu.assertEquals(x:view(24):totable(), H.flat(src))
  lu.assertTrue(shares(v, x))
  lu.assertTrue(shares(x, v))
end

function TestView:test_view_infers_minus_one()
  local x, src = ramp({4, 6})
  lu.assertEquals(x:view{2, -1}:shape(), {2, 12})
  lu.assertEquals(x:view{-1, 3, 2}:shape(), {4, 3, 2})
  lu.assertEquals(x:view(-1):shape(), {24})
  lu.assertEquals(x:view{-1, 8}:totable(), ref_reshape(src, {3, 8}))
  lu.assertEquals(lunet.zeros{0, 3}:view{-1}:shape(), {0})
  lu.assertEquals(lunet.tensor(5):view{1, 1}:shape(), {1, 1})
  lu.assertEquals(lunet.tensor{5}:view{}:dim(), 0)
end

function TestView:test_view_of_non_contiguous_where_allowed()
  local x = ramp({4, 6})
  -- transposed: splitting the last (strided) dim is still a view
  local t = x:t()                                   -- {6,4}, strides {1,6}
  local v = t:view{6, 2, 2}
  lu.assertEquals(v:totable(), ref_reshape(t:totable(), {6, 2, 2}))
  lu.assertTrue(shares(v, x))
  -- narrowed columns: rows keep stride 6, so the first dim can split
  local n = x:narrow(2, 2, 3)                       -- {4,3}, strides {6,1}
  local w = n:view{2, 2, 3}
  lu.assertEquals(w:totable(), ref_reshape(n:totable(), {2, 2, 3}))
  lu.assertTrue(shares(w, x))
  -- narrowed rows are contiguous with an offset: any regrouping works
  local r = x:narrow(1, 2, 2)
  lu.assertEquals(r:view{3, 4}:totable(), ref_reshape(r:totable(), {3, 4}))
  -- inserting size-1 dims into a permuted tensor
  local p = lunet.tensor(H.build({2, 3, 4}, function(i) return i[1] * 100 + i[2] * 10 + i[3] end))
    :permute(3, 1, 2)
  local q = p:view{4, 1, 2, 3, 1}
  lu.assertEquals(q:totable(), ref_reshape(p:totable(), {4, 1, 2, 3, 1}))
  -- but merging transposed dims is not
  H.raises("use reshape", function() return t:view{24} end)
  H.raises("use reshape", function() return n:view{12} end)
end

function TestView:test_reshape_shares_only_when_it_can()
  local x, src = ramp({4, 6})
  local r = x:reshape{3, 8}
  lu.assertEquals(r:totable(), ref_reshape(src, {3, 8}))
  lu.assertTrue(shares(x, r), "reshape of a contiguous tensor must not copy")
  local t = x:t()
  local c = t:reshape{24}
  lu.assertEquals(c:totable(), H.flat(t:totable()))
  lu.assertFalse(shares(x, c), "reshape of a transposed tensor to 1-d copies")
  lu.assertTrue(c:is_contiguous())
  local v = t:reshape{6, 2, 2}
  lu.assertEquals(v:totable(), ref_reshape(t:totable(), {6, 2, 2}))
  lu.assertTrue(shares(x, v), "reshape that a view can do must not copy")
  lu.assertEquals(x:reshape(-1, 4):shape(), {6, 4})
  lu.assertEquals(x:reshape(2, 2, -1):shape(), {2, 2, 6})
end

function TestView:test_reshape_shares_under_grad()
  local x = H.leaf(lunet.randn{4, 6})
  local r = x:reshape{24}
  lu.assertEquals(r.grad_fn, "ViewBackward")
  lu.assertTrue(shares(x, r))
  lu.assertFalse(shares(x, x:t():reshape{24}))
end

function TestView:test_gradcheck_view_reshape()
  H.gradcheck(function(x) return x:view{3, 4} end, {leaf({2, 6})})
  H.gradcheck(function(x) return x:view{-1} * x:view{-1} end, {leaf({3, 4})})
  H.gradcheck(function(x) return x:reshape{12} end, {leaf_t({3, 4})})
  H.gradcheck(function(x) return x:reshape{2, 2, 3} end, {leaf_narrow({4, 3})})
  H.gradcheck(function(x) return x:view{4, 2, 2}:exp() end, {leaf_t({4, 4})})
  H.gradcheck(function(x) return x:view{2, 2, 3} * 3 end, {leaf_narrow({4, 3})})
end

-- ---------------------------------------------------------------- transpose, t, permute

TestTranspose = {}

function TestTranspose:setUp() lunet.manual_seed(41) end

function TestTranspose:test_transpose_values()
  local x, src = ramp({2, 3, 4})
  lu.assertEquals(x:transpose(1, 3):totable(), ref_permute(src, {2, 3, 4}, {3, 2, 1}))
  lu.assertEquals(x:transpose(2, 3):totable(), ref_permute(src, {2, 3, 4}, {1, 3, 2}))
  lu.assertEquals(x:transpose(-1, -2):totable(), ref_permute(src, {2, 3, 4}, {1, 3, 2}))
  lu.assertEquals(x:transpose(1, -1):shape(), {4, 3, 2})
  lu.assertEquals(x:transpose(2, 2):totable(), src)
  lu.assertTrue(shares(x:transpose(1, 2), x))
  local m, msrc = ramp({3, 5})
  lu.assertEquals(m:transpose():totable(), ref_permute(msrc, {3, 5}, {2, 1}))
end

-- only both dims left out means t(): one nil is a mistake, not t()
function TestTranspose:test_one_nil_dim_is_an_error()
  local m = ramp({3, 5})
  H.raises("transpose: dim must be an integer, got nil", function() return m:transpose(nil, 1) end)
  H.raises("transpose: dim must be an integer, got no value", function() return m:transpose(2) end)
  H.raises("transpose: dim must be an integer, got nil", function() return m:transpose(nil, 2) end)
end

function TestTranspose:test_t()
  local m, src = ramp({3, 5})
  lu.assertEquals(m:t():totable(), ref_permute(src, {3, 5}, {2, 1}))
  lu.assertEquals(m:t():t():totable(), src)
  lu.assertTrue(shares(m:t(), m))
  local v = lunet.tensor{1, 2, 3}
  lu.assertEquals(v:t():totable(), {1, 2, 3})
  lu.assertTrue(shares(v:t(), v))
end

-- x:t() of a 1-d tensor is x itself in PyTorch: it must keep the graph
function TestTranspose:test_t_of_1d_keeps_grad()
  local x = leaf({3})
  local y = x:t()
  lu.assertTrue(y:requires_grad(), "x:t() of a 1-d tensor dropped requires_grad")
  H.gradcheck(function(a) return a:t() * 2 end, {x})
end

function TestTranspose:test_permute_values()
  local x, src = ramp({2, 3, 4})
  for _, perm in ipairs({{3, 1, 2}, {2, 3, 1}, {1, 2, 3}, {3, 2, 1}}) do
    lu.assertEquals(x:permute(table.unpack(perm)):totable(), ref_permute(src, {2, 3, 4}, perm))
    lu.assertEquals(x:permute(perm):totable(), ref_permute(src, {2, 3, 4}, perm))
  end
  lu.assertTrue(shares(x:permute(3, 1, 2), x))
  -- permute of a permuted view
  local y = x:permute(2, 3, 1)
  local ysrc = ref_permute(src, {2, 3, 4}, {2, 3, 1})
  lu.assertEquals(y:permute(3, 1, 2):totable(), ref_permute(ysrc, {3, 4, 2}, {3, 1, 2}))
end

-- dims count from the end when negative, in permute as everywhere
function TestTranspose:test_permute_negative_dims()
  local x, src = ramp({2, 3, 4})
  lu.assertEquals(x:permute(-1, -3, -2):totable(), ref_permute(src, {2, 3, 4}, {3, 1, 2}))
  lu.assertEquals(x:permute{-1, 1, 2}:shape(), {4, 2, 3})
end

function TestTranspose:test_gradcheck()
  H.gradcheck(function(x) return x:transpose(1, 3) end, {leaf({2, 3, 4})})
  H.gradcheck(function(x) return x:transpose(-1, -2):exp() end, {leaf({2, 3, 4})})
  H.gradcheck(function(x) return x:t() end, {leaf({3, 5})})
  H.gradcheck(function(x) return x:t() end, {leaf_t({3, 5})})
  H.gradcheck(function(x) return x:permute(3, 1, 2) end, {leaf({2, 3, 4})})
  H.gradcheck(function(x) return x:permute(2, 1) * x end, {leaf_t({4, 4})})
  H.gradcheck(function(x) return x:transpose(1, 2) end, {leaf_narrow({3, 4})})
end

-- ---------------------------------------------------------------- narrow, select

TestNarrowSelect = {}

function TestNarrowSelect:setUp() lunet.manual_seed(41) end

function TestNarrowSelect:test_narrow_values()
  local x, src = ramp({4, 5, 3})
  lu.assertEquals(x:narrow(2, 2, 3):totable(), ref_narrow(src, {4, 5, 3}, 2, 2, 3))
  lu.assertEquals(x:narrow(1, 1, 1):totable(), ref_narrow(src, {4, 5, 3}, 1, 1, 1))
  lu.assertEquals(x:narrow(3, 3, 1):totable(), ref_narrow(src, {4, 5, 3}, 3, 3, 1))
  lu.assertEquals(x:narrow(-1, 2, 2):totable(), ref_narrow(src, {4, 5, 3}, 3, 2, 2))
  -- negative start counts from the end: -1 is the last
  lu.assertEquals(x:narrow(2, -2, 2):totable(), ref_narrow(src, {4, 5, 3}, 2, 4, 2))
  lu.assertEquals(x:narrow(1, -1, 1):totable(), ref_narrow(src, {4, 5, 3}, 1, 4, 1))
  lu.assertEquals(x:narrow(2, 3, 0):shape(), {4, 0, 3})
  lu.assertTrue(shares(x:narrow(2, 2, 3), x))
  -- narrow of a transposed view
  local t = x:transpose(1, 3)
  lu.assertEquals(t:narrow(1, 2, 2):totable(), ref_narrow(t:totable(), {3, 5, 4}, 1, 2, 2))
end

function TestNarrowSelect:test_select_values()
  local x, src = ramp({4, 5, 3})
  lu.assertEquals(x:select(1, 2):totable(), ref_select(src, {4, 5, 3}, 1, 2))
  lu.assertEquals(x:select(2, 5):totable(), ref_select(src, {4, 5, 3}, 2, 5))
  lu.assertEquals(x:select(3, 1):totable(), ref_select(src, {4, 5, 3}, 3, 1))
  lu.assertEquals(x:select(-1, -1):totable(), ref_select(src, {4, 5, 3}, 3, 3))
  lu.assertEquals(x:select(2, -2):totable(), ref_select(src, {4, 5, 3}, 2, 4))
  lu.assertEquals(x:select(2, 1):shape(), {4, 3})
  local v = lunet.tensor{7, 8, 9}:select(1, 2)
  lu.assertEquals(v:dim(), 0)
  lu.assertEquals(v:item(), 8)
  lu.assertTrue(shares(x:select(2, 3), x))
end

function TestNarrowSelect:test_gradcheck()
  H.gradcheck(function(x) return x:narrow(2, 2, 3) end, {leaf({4, 5})})
  H.gradcheck(function(x) return x:narrow(1, -2, 2) end, {leaf({4, 5})})
  H.gradcheck(function(x) return x:narrow(2, 1, 2) end, {leaf_t({3, 4})})
  H.gradcheck(function(x) return x:narrow(1, 2, 2) end, {leaf_narrow({3, 4})})
  H.gradcheck(function(x) return x:select(2, 3) end, {leaf({4, 5})})
  H.gradcheck(function(x) return x:select(1, -1) end, {leaf_t({3, 4})})
  H.gradcheck(function(x) return x[2] end, {leaf({3, 4})})
  -- two overlapping narrows of one input: gradients add
  H.gradcheck(function(x) return x:narrow(1, 1, 3) * x:narrow(1, 2, 3) end, {leaf({4, 2})})
end

-- ---------------------------------------------------------------- expand

TestExpand = {}

function TestExpand:setUp() lunet.manual_seed(41) end

function TestExpand:test_expand_values()
  local c = lunet.tensor{{1}, {2}, {3}}
  local e = c:expand{3, 4}
  lu.assertEquals(e:totable(), H.build({3, 4}, function(i) return i[1] end))
  lu.assertEquals(e:stride()[2], 0)
  lu.assertEquals(c:expand(-1, 2):totable(), H.build({3, 2}, function(i) return i[1] end))
  -- new leading dims
  local r = lunet.tensor{1, 2, 3}
  local l = r:expand{2, 4, 3}
  lu.assertEquals(l:shape(), {2, 4, 3})
  lu.assertEquals(l:totable(), H.build({2, 4, 3}, function(i) return i[3] end))
  lu.assertEquals(l:stride(), {0, 0, 1})
  lu.assertEquals(r:expand{2, -1}:shape(), {2, 3})
  -- same shape: a plain view
  lu.assertEquals(r:expand{3}:totable(), {1, 2, 3})
  lu.assertTrue(shares(e, c))
  -- expand a transposed column
  local t = lunet.tensor{{1, 2, 3}}:t()           -- {3,1}
  lu.assertEquals(t:expand(3, 2):totable(), H.build({3, 2}, function(i) return i[1] end))
  -- 0-d to anything
  lu.assertEquals(lunet.tensor(5):expand{2, 2}:totable(), {{5, 5}, {5, 5}})
end

function TestExpand:test_expanded_feeds_ops()
  local a = lunet.tensor{{1}, {2}}:expand(2, 3)
  local b = lunet.tensor{10, 20, 30}:expand(2, 3)
  lu.assertEquals((a + b):totable(), {{11, 21, 31}, {12, 22, 32}})
  lu.assertEquals(a:contiguous():totable(), {{1, 1, 1}, {2, 2, 2}})
  lu.assertEquals(a:reshape{6}:totable(), {1, 1, 1, 2, 2, 2})
end

function TestExpand:test_gradcheck()
  H.gradcheck(function(x) return x:expand(3, 4) end, {leaf({3, 1})})
  H.gradcheck(function(x) return x:expand(2, 3, 4) end, {leaf({3, 1})})
  H.gradcheck(function(x) return x:expand(5, -1) end, {leaf({1, 3})})
  H.gradcheck(function(x) return x:expand(2, 4, 3) end, {leaf({3})})
  H.gradcheck(function(x) return x:expand(3, 2) end, {H.leaf(lunet.randn{1, 3}:t())})
  H.gradcheck(function(x) return x:expand(3, 3):exp() end, {leaf({})})
end

-- ---------------------------------------------------------------- unsqueeze, squeeze, flatten

TestSqueeze = {}

function TestSqueeze:setUp() lunet.manual_seed(41) end

function TestSqueeze:test_unsqueeze()
  local x, src = ramp({2, 3})
  lu.assertEquals(x:unsqueeze(1):shape(), {1, 2, 3})
  lu.assertEquals(x:unsqueeze(2):shape(), {2, 1, 3})
  lu.assertEquals(x:unsqueeze(3):shape(), {2, 3, 1})
  lu.assertEquals(x:unsqueeze(-1):shape(), {2, 3, 1})
  lu.assertEquals(x:unsqueeze(-3):shape(), {1, 2, 3})
  lu.assertEquals(x:unsqueeze(2):totable(), ref_reshape(src, {2, 1, 3}))
  lu.assertEquals(x:t():unsqueeze(2):totable(), ref_reshape(x:t():totable(), {3, 1, 2}))
  lu.assertEquals(lunet.tensor(4):unsqueeze(1):totable(), {4})
  lu.assertTrue(shares(x:unsqueeze(1), x))
end

function TestSqueeze:test_squeeze()
  local x, src = ramp({1, 3, 1, 2})
  lu.assertEquals(x:squeeze():shape(), {3, 2})
  lu.assertEquals(x:squeeze():totable(), ref_reshape(src, {3, 2}))
  lu.assertEquals(x:squeeze(1):shape(), {3, 1, 2})
  lu.assertEquals(x:squeeze(3):shape(), {1, 3, 2})
  lu.assertEquals(x:squeeze(-2):shape(), {1, 3, 2})
  lu.assertEquals(x:squeeze(2):shape(), {1, 3, 1, 2})   -- size 3: unchanged
  lu.assertEquals(lunet.zeros{1, 1}:squeeze():dim(), 0)
  lu.assertEquals(lunet.tensor(2):squeeze():dim(), 0)
  lu.assertTrue(shares(x:squeeze(), x))
end

function TestSqueeze:test_flatten()
  local x, src = ramp({2, 3, 4})
  lu.assertEquals(x:flatten():totable(), H.flat(src))
  lu.assertEquals(x:flatten(2):shape(), {2, 12})
  lu.assertEquals(x:flatten(1, 2):shape(), {6, 4})
  lu.assertEquals(x:flatten(1, 2):totable(), ref_reshape(src, {6, 4}))
  lu.assertEquals(x:flatten(-2, -1):shape(), {2, 12})
  lu.assertEquals(x:flatten(2, 2):shape(), {2, 3, 4})
  lu.assertTrue(shares(x:flatten(), x))
  local t = x:transpose(1, 3)
  lu.assertEquals(t:flatten():totable(), H.flat(t:totable()))
  lu.assertEquals(lunet.tensor(3):flatten():shape(), {1})
end

function TestSqueeze:test_gradcheck()
  H.gradcheck(function(x) return x:unsqueeze(2) end, {leaf({2, 3})})
  H.gradcheck(function(x) return x:unsqueeze(-1) end, {leaf_t({2, 3})})
  H.gradcheck(function(x) return x:squeeze() end, {leaf({1, 3, 1})})
  H.gradcheck(function(x) return x:squeeze(1) end, {leaf({1, 3})})
  H.gradcheck(function(x) return x:flatten() end, {leaf({2, 3, 2})})
  H.gradcheck(function(x) return x:flatten() end, {leaf_t({3, 4})})
  H.gradcheck(function(x) return x:flatten(1, 2) end, {leaf_narrow({2, 3, 2})})
end

-- ---------------------------------------------------------------- contiguous, clone, detach

TestCopies = {}

function TestCopies:setUp() lunet.manual_seed(41) end

function TestCopies:test_contiguous()
  local x, src = ramp({3, 4})
  local t = x:t()
  local c = t:contiguous()
  lu.assertTrue(c:is_contiguous())
  lu.assertEquals(c:totable(), ref_permute(src, {3, 4}, {2, 1}))
  lu.assertEquals(c:stride(), {3, 1})
  lu.assertFalse(shares(c, x))
  local same = x:contiguous()
  lu.assertTrue(shares(same, x), "contiguous() of a contiguous tensor must not copy")
  local n = x:narrow(2, 2, 2):contiguous()
  lu.assertEquals(n:totable(), ref_narrow(src, {3, 4}, 2, 2, 2))
end

function TestCopies:test_clone()
  local x, src = ramp({3, 4})
  local c = x:clone()
  lu.assertEquals(c:totable(), src)
  lu.assertFalse(shares(c, x))
  lu.assertEquals(x:t():clone():totable(), ref_permute(src, {3, 4}, {2, 1}))
  lu.assertTrue(x:t():clone():is_contiguous())
  local l = leaf({2})
  local lc = l:clone()
  lu.assertEquals(lc.grad_fn, "CloneBackward")
  lu.assertFalse(lc.is_leaf)
end

function TestCopies:test_detach_shares_without_grad()
  local x = leaf({3, 4})
  local d = x:detach()
  lu.assertFalse(d:requires_grad())
  lu.assertNil(d.grad_fn)
  lu.assertTrue(d.is_leaf)
  lu.assertTrue(shares(d, x))
  lu.assertTrue(shares(x, d))
  local y = (x * 2):detach()
  lu.assertNil(y.grad_fn)
  -- a non-contiguous detach keeps its layout
  local t = x:t():detach()
  lu.assertEquals(t:stride(), {1, 4})
  lu.assertTrue(shares(t, x))
  -- no gradient flows through a detached branch
  local z = (x * x:detach()):sum()
  z:backward()
  H.assert_close(x.grad, x:detach(), 1e-6)
end

function TestCopies:test_gradcheck()
  H.gradcheck(function(x) return x:contiguous() end, {leaf_t({3, 4})})
  H.gradcheck(function(x) return x:contiguous() * x end, {leaf({3, 4})})
  H.gradcheck(function(x) return x:clone() end, {leaf_narrow({2, 3})})
  H.gradcheck(function(x) return x:clone():exp() end, {leaf({4})})
end

-- ---------------------------------------------------------------- split, chunk

TestSplit = {}

function TestSplit:setUp() lunet.manual_seed(41) end

function TestSplit:test_split()
  local x = lunet.arange(10)
  local p = x:split(3)
  lu.assertEquals(#p, 4)
  lu.assertEquals(p[1]:totable(), {0, 1, 2})
  lu.assertEquals(p[2]:totable(), {3, 4, 5})
  lu.assertEquals(p[3]:totable(), {6, 7, 8})
  lu.assertEquals(p[4]:totable(), {9})
  lu.assertTrue(shares(p[2], x))
  local m, src = ramp({3, 5})
  local q = m:split(2, 2)
  lu.assertEquals(#q, 3)
  lu.assertEquals(q[1]:totable(), ref_narrow(src, {3, 5}, 2, 1, 2))
  lu.assertEquals(q[2]:totable(), ref_narrow(src, {3, 5}, 2, 3, 2))
  lu.assertEquals(q[3]:totable(), ref_narrow(src, {3, 5}, 2, 5, 1))
  local r = m:split(5, -1)
  lu.assertEquals(#r, 1)
  lu.assertEquals(r[1]:totable(), src)
  lu.assertEquals(#m:split(10), 1)
end

function TestSplit:test_chunk()
  local x = lunet.arange(10)
  local c = x:chunk(3)
  lu.assertEquals(#c, 3)
  lu.assertEquals(c[1]:totable(), {0, 1, 2, 3})
  lu.assertEquals(c[2]:totable(), {4, 5, 6, 7})
  lu.assertEquals(c[3]:totable(), {8, 9})
  lu.assertEquals(#lunet.arange(6):chunk(2), 2)
  lu.assertEquals(#lunet.arange(6):chunk(6), 6)
  local m, src = ramp({4, 6})
  local d = m:chunk(3, 2)
  lu.assertEquals(#d, 3)
  for k = 1, 3 do
    lu.assertEquals(d[k]:totable(), ref_narrow(src, {4, 6}, 2, 2 * k - 1, 2))
  end
  local e = m:t():chunk(2, -1)
  lu.assertEquals(e[2]:totable(), ref_narrow(ref_permute(src, {4, 6}, {2, 1}), {6, 4}, 2, 3, 2))
end

function TestSplit:test_gradcheck()
  H.gradcheck(function(x)
    local p = x:split(2)
    return lunet.cat({p[3], p[1] * 2, p[2] * 3}, 1)
  end, {leaf({6})})
  H.gradcheck(function(x)
    local p = x:split(2, 2)
    return p[2] * p[1]
  end, {leaf_t({3, 4})})
  H.gradcheck(function(x)
    local c = x:chunk(2, 1)
    return c[1] - c[2] * 2
  end, {leaf_narrow({4, 3})})
end

-- ---------------------------------------------------------------- cat, stack

TestCatStack = {}

function TestCatStack:setUp() lunet.manual_seed(41) end

-- cat of nested tables along dim d
local function ref_cat(parts, shapes, d)
  local out_shape = {table.unpack(shapes[1])}
  out_shape[d] = 0
  for _, s in ipairs(shapes) do out_shape[d] = out_shape[d] + s[d] end
  return H.build(out_shape, function(idx)
    local k, i = 1, idx[d]
    while i > shapes[k][d] do i = i - shapes[k][d]; k = k + 1 end
    local j = {table.unpack(idx)}
    j[d] = i
    return H.at(parts[k], j)
  end), out_shape
end

local function ref_stack(parts, shape, d)
  local out_shape = {}
  for k = 1, #shape + 1 do
    if k < d then out_shape[k] = shape[k] elseif k == d then out_shape[k] = #parts
    else out_shape[k] = shape[k - 1] end
  end
  return H.build(out_shape, function(idx)
    local j = {}
    for k = 1, #idx do if k ~= d then j[#j + 1] = idx[k] end end
    return H.at(parts[idx[d]], j)
  end), out_shape
end

function TestCatStack:test_cat_dims()
  local shapes = {{2, 3, 4}, {2, 1, 4}, {2, 2, 4}}
  local ts, srcs = {}, {}
  for k, s in ipairs(shapes) do
    ts[k], srcs[k] = ramp(s)
    ts[k] = ts[k] * k
    srcs[k] = ts[k]:totable()
  end
  local want, ws = ref_cat(srcs, shapes, 2)
  local got = lunet.cat(ts, 2)
  lu.assertEquals(got:shape(), ws)
  lu.assertEquals(got:totable(), want)
  lu.assertEquals(lunet.cat(ts, -2):totable(), want)
  -- dim 1 and the last dim
  local a, asrc = ramp({2, 3})
  local b = lunet.tensor{{-1, -2, -3}}
  lu.assertEquals(lunet.cat({a, b}, 1):totable(), ref_cat({asrc, b:totable()}, {{2, 3}, {1, 3}}, 1))
  local c = lunet.tensor{{7}, {8}}
  lu.assertEquals(lunet.cat({a, c}, -1):totable(), ref_cat({asrc, c:totable()}, {{2, 3}, {2, 1}}, 2))
  lu.assertEquals(lunet.cat({a}, 1):totable(), asrc)
  -- an empty piece
  lu.assertEquals(lunet.cat({a, lunet.zeros{0, 3}}, 1):totable(), asrc)
  -- the result is a fresh tensor
  lu.assertFalse(shares(lunet.cat({a, a}, 1), a))
end

-- with no dim, cat joins along dim 1 (and stack inserts a new dim 1)
function TestCatStack:test_default_dim()
  local a, b = lunet.tensor{1, 2}, lunet.tensor{3, 4, 5}
  lu.assertEquals(lunet.cat{a, b}:totable(), {1, 2, 3, 4, 5})
  lu.assertEquals(lunet.stack{a, a * 2}:totable(), {{1, 2}, {2, 4}})
end

function TestCatStack:test_cat_many_and_non_contiguous()
  local ts, srcs, shapes = {}, {}, {}
  for k = 1, 9 do
    local s = {3, k % 3 + 1}
    shapes[k] = s
    -- alternate contiguous, transposed and narrowed inputs
    local t
    if k % 3 == 0 then t = lunet.randn{s[2], s[1]}:t()
    elseif k % 3 == 1 then t = lunet.randn{s[1], s[2] + 2}:narrow(2, 2, s[2])
    else t = lunet.randn(s) end
    ts[k], srcs[k] = t, t:totable()
  end
  local want, ws = ref_cat(srcs, shapes, 2)
  local got = lunet.cat(ts, 2)
  lu.assertEquals(got:shape(), ws)
  lu.assertEquals(got:totable(), want)
end

function TestCatStack:test_stack()
  local a, asrc = ramp({2, 3})
  local b = a * -1
  local c = a:t():contiguous():view{2, 3}
  local srcs = {asrc, b:totable(), c:totable()}
  for _, d in ipairs({1, 2, 3}) do
    local want, ws = ref_stack(srcs, {2, 3}, d)
    local got = lunet.stack({a, b, c}, d)
    lu.assertEquals(got:shape(), ws, "dim " .. d)
    lu.assertEquals(got:totable(), want, "dim " .. d)
  end
  lu.assertEquals(lunet.stack({a, b, c}, -1):totable(), (ref_stack(srcs, {2, 3}, 3)))
  lu.assertEquals(lunet.stack({a, b, c}, -3):totable(), (ref_stack(srcs, {2, 3}, 1)))
  -- 0-d inputs stack to a vector
  lu.assertEquals(lunet.stack({lunet.tensor(1), lunet.tensor(2)}, 1):totable(), {1, 2})
  -- many, non-contiguous
  local ts, s9 = {}, {}
  for k = 1, 9 do ts[k] = lunet.randn{3, 2}:t(); s9[k] = ts[k]:totable() end
  lu.assertEquals(lunet.stack(ts, 2):totable(), (ref_stack(s9, {2, 3}, 2)))
end

function TestCatStack:test_gradcheck_cat()
  H.gradcheck(function(a, b) return lunet.cat({a, b}, 1) end, {leaf({2, 3}), leaf({1, 3})})
  H.gradcheck(function(a, b) return lunet.cat({a, b}, -1) end, {leaf({2, 3}), leaf_t({2, 2})})
  H.gradcheck(function(a, b) return lunet.cat({a, b, a}, 2) end, {leaf_narrow({2, 2}), leaf({2, 1})})
  -- one input without grad
  H.gradcheck(function(a, b) return lunet.cat({a, b}, 1) end, {leaf({2}), lunet.randn{3}})
  local many = {}
  for k = 1, 9 do many[k] = k % 2 == 0 and leaf_t({2, 2}) or leaf({2, 2}) end
  H.gradcheck(function(...) return lunet.cat({...}, 2) end, many)
end

function TestCatStack:test_gradcheck_stack()
  H.gradcheck(function(a, b) return lunet.stack({a, b}, 1) end, {leaf({2, 3}), leaf_t({2, 3})})
  H.gradcheck(function(a, b) return lunet.stack({a, b}, 2) end, {leaf({2, 3}), leaf({2, 3})})
  H.gradcheck(function(a, b) return lunet.stack({a, b, a}, -1) end, {leaf_narrow({2, 3}), leaf({2, 3})})
  local many = {}
  for k = 1, 9 do many[k] = k % 3 == 0 and leaf_narrow({3}) or leaf({3}) end
  H.gradcheck(function(...) return lunet.stack({...}, 2) end, many)
end
