-- Bugs found by review, each pinned by the smallest case that showed it.
local lu = require "luaunit"
local lunet = require "lunet"
local H = require "helpers"

TestRegression = {}

function TestRegression:test_view_shape_product_overflow()
  H.raises("view: shape {4294967296,4294967296} is invalid for 0 elements",
           function() return lunet.zeros{0}:view{2^32, 2^32} end)
  H.raises("is invalid for 1 elements",
           function() return lunet.tensor(5):view{7, 0x6DB6DB6DB6DB6DB7} end)
  H.raises("expand: cannot expand shape {1} to {4294967296,4294967296}",
           function() return lunet.ones{1}:expand{2^32, 2^32} end)
end

function TestRegression:test_narrow_length_overflow()
  H.raises("narrow: start 2 and length 9223372036854775807 exceed dim 1 of size 10",
           function() return lunet.arange(10):narrow(1, 2, math.maxinteger) end)
end

function TestRegression:test_dims_print_as_given()
  H.raises("sum: dim 4294967297 out of range for a 2-d tensor",
           function() return lunet.zeros{2, 2}:sum(2^32 + 1) end)
  H.raises("size: a 0-d tensor has no dims", function() return lunet.tensor(5):size(1) end)
end

function TestRegression:test_norm_weight_may_be_strided()
  local x = lunet.randn{2, 4}
  local w = lunet.tensor{{1, 100}, {2, 200}, {3, 300}, {4, 400}}:select(2, 1)
  local b = lunet.tensor{{5, 0}, {6, 0}, {7, 0}, {8, 0}}:select(2, 1)
  H.assert_close(lunet.layer_norm(x, w, b), lunet.layer_norm(x, w:contiguous(), b:contiguous()), 1e-6)
  H.assert_close(lunet.rms_norm(x, lunet.ones{1}:expand{4}), lunet.rms_norm(x), 1e-6)
  H.gradcheck(function(x) return lunet.layer_norm(x, w, b) end, {H.leaf(x)})
end

function TestRegression:test_cat_reads_the_list_raw()
  local proxy = setmetatable({}, { __len = function() return 50 end,
    __index = function() collectgarbage(); return lunet.randn{10} end })
  H.raises("cat: expected a non-empty list of tensors", function() return lunet.cat(proxy) end)
end

function TestRegression:test_copy_between_overlapping_views()
  local x = lunet.arange(10)
  x:narrow(1, 1, 9):copy_(x:narrow(1, 2, 9))
  lu.assertEquals(x:totable(), {1, 2, 3, 4, 5, 6, 7, 8, 9, 9})
  local y = lunet.arange(10)
  y:narrow(1, 2, 9):copy_(y:narrow(1, 1, 9))
  lu.assertEquals(y:totable(), {0, 0, 1, 2, 3, 4, 5, 6, 7, 8})
end

function TestRegression:test_empty_rope_and_linear()
  local x = lunet.randn({2, 0, 4}, { requires_grad = true })
  lunet.rope(x, lunet.zeros{0, 4}, lunet.zeros{0, 4}):sum():backward()
  lu.assertEquals(x.grad:shape(), {2, 0, 4})
  lu.assertEquals(lunet.linear(lunet.zeros{2, 0}, lunet.zeros{3, 0}):totable(), {{0, 0, 0}, {0, 0, 0}})
end

function TestRegression:test_assigned_grad_is_a_private_copy()
  local x = lunet.tensor({1, 2, 3}, { requires_grad = true })
  x.grad = x * 2                      -- would be x -> grad -> graph -> x
  lu.assertNil(x.grad.grad_fn)
  local g = lunet.ones{3}
  x.grad = g
  ;(x * 1):sum():backward()
  lu.assertEquals(x.grad:totable(), {2, 2, 2})
  lu.assertEquals(g:totable(), {1, 1, 1})   -- the assigned tensor is untouched
end

function TestRegression:test_chunk_count_overflow()
  local parts = lunet.zeros{3}:chunk(math.maxinteger)
  lu.assertEquals(#parts, 3)
end

function TestRegression:test_cross_entropy_huge_targets_and_ignore()
  H.raises("cross_entropy: ignore_index must be an integer of at most 2^53", function()
    return lunet.cross_entropy(lunet.randn{2, 3}, lunet.tensor{1, 2}, {ignore_index = math.mininteger})
  end)
  H.raises("cross_entropy: targets value 1e+30 is out of range",
           function() return lunet.cross_entropy(lunet.randn{2, 3}, lunet.tensor{1e30, 1}) end)
  H.raises("cross_entropy: targets value inf is out of range",
           function() return lunet.cross_entropy(lunet.randn{2, 3}, lunet.tensor{math.huge, 1}) end)
  H.raises("cross_entropy: target 4 out of range for 3 classes",
           function() return lunet.cross_entropy(lunet.randn{2, 3}, lunet.tensor{4, 1}:long()) end)
end

function TestRegression:test_in_place_write_after_save_is_refused()
  local x = lunet.tensor{1, 2, 3}
  local w = lunet.tensor({1, 1, 1}, { requires_grad = true })
  local y = (x * w):sum()
  x:fill_(0)
  H.raises("backward: a tensor MulBackward saved was written in place after it was saved",
           function() y:backward() end)
  -- an optimiser step between forward and backward is caught the same way
  local p = lunet.randn({3}, { requires_grad = true })
  local opt = lunet.optim.SGD({ p }, { lr = 0.1 })
  local loss = (p * p):sum()
  p.grad = lunet.ones{3}
  opt:step()
  H.raises("was written in place", function() loss:backward() end)
end

function TestRegression:test_keepdim_is_a_boolean()
  local x = lunet.randn{2, 3}
  H.raises("sum: keepdim must be a boolean, got number (one dim at a time)",
           function() return x:sum(2, 3) end)
  H.raises("mean: keepdim must be a boolean, got string", function() return x:mean(2, "yes") end)
  lu.assertEquals(x:sum(2, {keepdim = false}):shape(), {2})    -- a table was always truthy
  lu.assertEquals(x:sum(2, {keepdim = true}):shape(), {2, 1})
  lu.assertEquals(x:max(2, true):shape(), {2, 1})
end

function TestRegression:test_unknown_options_are_errors()
  H.raises("cross_entropy: unknown option 'label_smoothing'", function()
    return lunet.cross_entropy(lunet.randn{2, 3}, lunet.tensor{1, 2}, {label_smoothing = 0.1})
  end)
  H.raises("mse_loss: unknown option 'foo'",
           function() return lunet.mse_loss(lunet.ones{2}, lunet.zeros{2}, {foo = 1}) end)
  local m = lunet.nn.MHA{hidden_size = 16, num_heads = 4}
  H.raises("MultiHeadAttention: unknown option 'casual' (did you mean 'causal'?)",
           function() return m(lunet.randn{1, 3, 16}, nil, {casual = true}) end)
end

function TestRegression:test_state_dict_saves_as_it_is()
  local m = lunet.nn.Linear(3, 2)
  local path = H.temp_file()
  lunet.save(path, m:state_dict())
  local t = lunet.load(path)
  H.assert_close(t.weight, m.weight, 0)
  H.assert_close(t.bias, m.bias, 0)
  os.remove(path)
end

function TestRegression:test_printing_wraps_at_80_columns()
  local text = tostring(lunet.arange(30))
  local lines = {}
  for line in text:gmatch("[^\n]+") do lines[#lines + 1] = line end
  lu.assertEquals(#lines, 3)
  for _, line in ipairs(lines) do lu.assertTrue(#line <= 80, line) end
  lu.assertStrContains(text, "13.,\n        14.,")   -- continuation under the first value
  lu.assertEquals(lunet.tensor(load("return " .. text:match("^tensor%((%b[])"):gsub("%[", "{"):gsub("%]", "}")
                              :gsub("(%d)%.", "%1"))()):totable(), lunet.arange(30):totable())
end

function TestRegression:test_layer_errors_point_at_the_callers_line()
  local m = lunet.nn.Sequential(lunet.nn.Linear(4, 3))
  local ok, err = pcall(function() local y = m(lunet.randn{5}); return y end)   -- not a tail call
  lu.assertFalse(ok)
  lu.assertStrContains(err, "regression_spec.lua:")
  lu.assertStrContains(err, "linear: input {5} does not match weight {3,4}")
  lu.assertNotStrContains(err, "lunet/nn/")
end
