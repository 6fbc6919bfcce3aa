-- The fused layer ops: linear, embedding, layer_norm, rms_norm, rope,
-- dropout.  Values against plain Lua, gradients against finite differences.
local lu = require "luaunit"
local lunet = require "lunet"
local H = require "helpers"

TestNNOps = {}

function TestNNOps:setUp() lunet.manual_seed(7) end

function TestNNOps:test_linear_values()
  local x, w, b = lunet.randn{2, 3, 4}, lunet.randn{5, 4}, lunet.randn{5}
  local y = lunet.linear(x, w, b)
  lu.assertEquals(y:shape(), {2, 3, 5})
  for i = 1, 2 do for s = 1, 3 do for o = 1, 5 do
    local acc = b:get{o}
    for k = 1, 4 do acc = acc + x:get{i, s, k} * w:get{o, k} end
    lu.assertAlmostEquals(y:get{i, s, o}, acc, 1e-4)
  end end end
  H.assert_close(lunet.linear(x, w), lunet.linear(x, w, b) - b, 1e-5)
end

function TestNNOps:test_linear_grad()
  local x, w, b = H.leaf(lunet.randn{2, 3}), H.leaf(lunet.randn{4, 3}), H.leaf(lunet.randn{4})
  H.gradcheck(function(x, w, b) return lunet.linear(x, w, b) end, {x, w, b})
  local xt = H.leaf(lunet.randn{3, 2}:t())            -- non-contiguous input
  H.gradcheck(function(x, w) return lunet.linear(x, w) end, {xt, w})
end

function TestNNOps:test_embedding()
  local w = H.leaf(lunet.randn{6, 3})
  local ids = lunet.tensor{{1, 6, 2}, {2, 2, 5}}
  local y = lunet.embedding(ids, w)
  lu.assertEquals(y:shape(), {2, 3, 3})
  for i = 1, 2 do for j = 1, 3 do for d = 1, 3 do
    lu.assertEquals(y:get{i, j, d}, w:get{ids:get{i, j}, d})
  end end end
  H.gradcheck(function(w) return lunet.embedding(ids, w) end, {w})
  -- id 2 is used three times: its gradient row sums three upstream rows
  w.grad = nil
  lunet.embedding(ids, w):sum():backward()
  lu.assertEquals(w.grad:get{2, 1}, 3)
  lu.assertEquals(w.grad:get{3, 1}, 0)
end

local plain_norm = H.plain_norm

function TestNNOps:test_layer_norm()
  local x, w, b = lunet.randn{2, 3, 5} * 3 + 1, lunet.randn{5}, lunet.randn{5}
  H.assert_close(lunet.layer_norm(x, w, b), plain_norm(x, w, b, 1e-5, false), 1e-4)
  H.assert_close(lunet.layer_norm(x), plain_norm(x, nil, nil, 1e-5, false), 1e-4)
  local xl, wl, bl = H.leaf(lunet.randn{3, 4}), H.leaf(lunet.randn{4}), H.leaf(lunet.randn{4})
  H.gradcheck(function(x, w, b) return lunet.layer_norm(x, w, b) end, {xl, wl, bl})
  H.gradcheck(function(x) return lunet.layer_norm(x:t()) end, {H.leaf(lunet.randn{4, 3})})
end

function TestNNOps:test_rms_norm()
  local x, w = lunet.randn{4, 6}, lunet.randn{6}
  H.assert_close(lunet.rms_norm(x, w), plain_norm(x, w, nil, 1e-6, true), 1e-4)
  local xl, wl = H.leaf(lunet.randn{3, 4}), H.leaf(lunet.randn{4})
  H.gradcheck(function(x, w) return lunet.rms_norm(x, w) end, {xl, wl})
  H.gradcheck(function(x) return lunet.rms_norm(x) end, {xl})
end

local function plain_rope(x, c, s, interleaved)
  local shape = x:shape()
  local S, D = shape[#shape - 1], shape[#shape]
  local rows = x:numel() // (S * D)
  local xf = x:reshape{rows, S, D}
  local out = lunet.zeros{rows, S, D}
  for r = 1, rows do for p = 1, S do for i = 1, D do
    local partner, sign
    if interleaved then
      partner = (i % 2 == 1) and i + 1 or i - 1
      sign = (i % 2 == 1) and -1 or 1
    else
      partner = i <= D / 2 and i + D / 2 or i - D / 2
      sign = i <= D / 2 and -1 or 1
    end
    out:set({r, p, i}, xf:get{r, p, i} * c:get{p, i} + sign * xf:get{r, p, partner} * s:get{p, i})
  end end end
  return out:view(shape)
end

function TestNNOps:test_rope_values_and_grad()
  local x = lunet.randn{2, 3, 4, 6}
  local c, s = lunet.randn{4, 6}, lunet.randn{4, 6}
  for _, inter in ipairs{true, false} do
    H.assert_close(lunet.rope(x, c, s, inter), plain_rope(x, c, s, inter), 1e-5)
    local xl = H.leaf(lunet.randn{2, 4, 6})
    H.gradcheck(function(x) return lunet.rope(x, c, s, inter) end, {xl})
    -- non-contiguous input, as produced by view + transpose in attention
    local xt = H.leaf(lunet.randn{4, 2, 6}):transpose(1, 2)
    lu.assertFalse(xt:is_contiguous())
    H.assert_close(lunet.rope(xt, c, s, inter), plain_rope(xt:contiguous(), c, s, inter), 1e-5)
  end
end

function TestNNOps:test_dropout()
  local x = lunet.ones{1000}
  lunet.manual_seed(3)
  local y = lunet.dropout(x, 0.25)
  local zeros, kept = 0, 0
  for i = 1, 1000 do
    local v = y:get{i}
    if v == 0 then zeros = zeros + 1 else kept = kept + 1; lu.assertAlmostEquals(v, 1 / 0.75, 1e-6) end
  end
  lu.assertTrue(zeros > 180 and zeros < 320, "dropped " .. zeros)
  lunet.manual_seed(3)
  H.assert_close(lunet.dropout(x, 0.25), y, 0)                     -- reproducible
  lu.assertIs(lunet.dropout(x, 0.25, false), x)                    -- eval: identity
  lu.assertIs(lunet.dropout(x, 0), x)
  local xl = H.leaf(lunet.randn{3, 4})
  H.gradcheck(function(x) lunet.manual_seed(11); return lunet.dropout(x, 0.5) end, {xl})
end

function TestNNOps:test_errors()
  H.raises("linear: input {2,3} does not match weight {4,5} (in_features 5)", function()
    lunet.linear(lunet.zeros{2, 3}, lunet.zeros{4, 5})
  end)
  H.raises("linear: bias {3} does not match weight {4,3} (out_features 4)", function()
    lunet.linear(lunet.zeros{2, 3}, lunet.zeros{4, 3}, lunet.zeros{3})
  end)
  H.raises("embedding: id 7 out of range for 6 embeddings", function()
    lunet.embedding(lunet.tensor{1, 7}, lunet.zeros{6, 2})
  end)
  H.raises("embedding: id 0 out of range for 6 embeddings", function()
    lunet.embedding(lunet.tensor{0}, lunet.zeros{6, 2})
  end)
  H.raises("embedding: ids must be integers, got 1.5", function()
    lunet.embedding(lunet.tensor{1.5}, lunet.zeros{6, 2})
  end)
  H.raises("layer_norm: weight/bias {4} do not match the input's last dim 3", function()
    lunet.layer_norm(lunet.zeros{2, 3}, lunet.zeros{4})
  end)
  H.raises("rope: tables cos {4,6} and sin {4,6} must both be {S,D} for input {2,3,6}", function()
    lunet.rope(lunet.zeros{2, 3, 6}, lunet.zeros{4, 6}, lunet.zeros{4, 6})
  end)
  H.raises("rope: last dim 5 must be even", function()
    lunet.rope(lunet.zeros{3, 5}, lunet.zeros{3, 5}, lunet.zeros{3, 5})
  end)
  H.raises("dropout: p must be in [0, 1], got 1.5", function() lunet.dropout(lunet.zeros{2}, 1.5) end)
end
