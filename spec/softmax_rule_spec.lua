-- The softmax family shares one row kernel (src/core/rowmath.h) and one
-- rule for a row with nothing to weigh (all -inf): its exps sum to 0 and
-- its log-sum-exp is -inf.  softmax, log_softmax and cross_entropy then
-- give NaN there and logsumexp -inf, as PyTorch does; attention gives a
-- query that sees no key zero weights.  Rows short enough to share a
-- chunk, rows longer than a chunk (2048) and single rows all take it.
local lu = require "luaunit"
local lunet = require "lunet"
local H = require "helpers"

local INF = math.huge

local function isnan(v) return v ~= v end

TestSoftmaxRule = {}

function TestSoftmaxRule:setUp() lunet.manual_seed(11) end

-- the same row alone, among short rows, and padded past a chunk
local function rows_of(row)
  local long = {}
  for i = 1, 3000 do long[i] = row[(i - 1) % #row + 1] end
  return { lunet.tensor{ row }, lunet.tensor{ row, { 0, 1 }, { 2, 3 } },
           lunet.tensor{ long } }
end

function TestSoftmaxRule:test_all_minus_inf_row_everywhere()
  for _, x in ipairs(rows_of{ -INF, -INF }) do
    local n = x:size(2)
    local s, l = x:softmax(2):totable()[1], x:log_softmax(2):totable()[1]
    for i = 1, n do
      lu.assertTrue(isnan(s[i]), "softmax NaN")
      lu.assertTrue(isnan(l[i]), "log_softmax NaN")
    end
    lu.assertEquals(x:logsumexp(2):totable()[1], -INF)
    local ce = lunet.cross_entropy(x, lunet.ones{ x:size(1) }, { reduction = "none" })
    lu.assertTrue(isnan(ce:totable()[1]), "cross_entropy NaN")
    if x:size(1) > 1 then   -- the other rows are untouched by it
      H.assert_close(x:narrow(1, 2, 2):softmax(2), x:softmax(2):narrow(1, 2, 2), 0)
    end
  end
end

function TestSoftmaxRule:test_attention_row_without_keys_is_zero()
  -- the same rule seen through attention: lse -inf marks the row, which
  -- then attends to nothing, in the block path (short) and row by row
  -- (causal, S * T past a chunk)
  for _, T in ipairs{ 4, 80 } do
    local q = lunet.randn{ 1, 1, T, 4 }
    local k, v = lunet.randn{ 1, 1, T, 4 }, lunet.randn{ 1, 1, T, 4 }
    local mask = lunet.ones{ 1, T }
    mask:fill_(0)
    local out = lunet.attention(q, k, v, { mask = mask, causal = true })
    H.assert_close(out, lunet.zeros{ 1, 1, T, 4 }, 0)
  end
end

function TestSoftmaxRule:test_plus_inf_entry()
  -- PyTorch: softmax{1, inf} = {0, nan}, log_softmax = {-inf, nan}, lse inf
  for _, x in ipairs(rows_of{ 1, INF }) do
    local s, l = x:softmax(2):totable()[1], x:log_softmax(2):totable()[1]
    lu.assertEquals(s[1], 0)
    lu.assertTrue(isnan(s[2]))
    lu.assertEquals(l[1], -INF)
    lu.assertTrue(isnan(l[2]))
    lu.assertEquals(x:logsumexp(2):totable()[1], INF)
  end
end

function TestSoftmaxRule:test_nan_spreads_over_its_row()
  local x = lunet.tensor{ { 0, 0 / 0, 1 }, { 1, 2, 3 } }
  for _, v in ipairs(x:softmax(2):totable()[1]) do lu.assertTrue(isnan(v)) end
  lu.assertTrue(isnan(x:logsumexp(2):totable()[1]))
  lu.assertFalse(isnan(x:logsumexp(2):totable()[2]))
end

function TestSoftmaxRule:test_rows_short_and_long_agree_with_plain_math()
  for _, C in ipairs{ 1, 7, 300, 2048, 2049, 5000 } do
    local x = lunet.randn{ 3, C } * 5
    local t = x:totable()
    local lse, ls, sm = x:logsumexp(2):totable(), x:log_softmax(2):totable(),
                        x:softmax(2):totable()
    local targets, want = {}, 0
    for r = 1, 3 do
      local l = H.logsumexp(t[r])   -- plain Lua, in double
      lu.assertAlmostEquals(lse[r], l, 1e-4 * math.max(1, math.abs(l)))
      for _, c in ipairs{ 1, C } do
        lu.assertAlmostEquals(ls[r][c], t[r][c] - l, 1e-4)
        lu.assertAlmostEquals(sm[r][c], math.exp(t[r][c] - l), 1e-5)
      end
      targets[r] = (r * 7) % C + 1
      want = want + l - t[r][targets[r]]
    end
    lu.assertAlmostEquals(lunet.cross_entropy(x, lunet.tensor(targets)):item(), want / 3,
                          1e-4 * math.max(1, math.abs(want / 3)))
  end
end

function TestSoftmaxRule:test_long_row_gradients()
  -- past one chunk, forward and backward still match finite differences
  local x = H.leaf(lunet.randn{ 2, 2100 })
  local t = lunet.tensor{ 5, 2100 }
  H.gradcheck(function(a) return lunet.cross_entropy(a, t) end, { x })
  H.gradcheck(function(a) return a:logsumexp(2) end, { x })
end
