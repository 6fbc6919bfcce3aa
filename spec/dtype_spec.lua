-- dtypes beyond float32: creation, conversion, printing, element access,
-- promotion in arithmetic, bool masks where float masks went, ids in
-- embedding and cross_entropy, integer reductions, and safetensors.
local lu = require "luaunit"
local lunet = require "lunet"
local H = require "helpers"

TestDtypeCreate = {}

function TestDtypeCreate:test_float32_unless_asked()
  lu.assertEquals(lunet.tensor{1, 2, 3}.dtype, "float32")
  lu.assertEquals(lunet.zeros{2}.dtype, "float32")
  lu.assertEquals(lunet.arange(4).dtype, "float32")
  for _, dt in ipairs{ "int64", "int32", "uint8", "bool", "float32" } do
    lu.assertEquals(lunet.zeros({2}, { dtype = dt }).dtype, dt)
    lu.assertEquals(lunet.ones(2, 3, { dtype = dt }).dtype, dt)
    lu.assertEquals(lunet.tensor({ 1, 0 }, { dtype = dt }).dtype, dt)
  end
  -- PyTorch and Torch7 names
  lu.assertEquals(lunet.zeros({2}, { dtype = "long" }).dtype, "int64")
  lu.assertEquals(lunet.zeros({2}, { dtype = "byte" }).dtype, "uint8")
  lu.assertEquals(lunet.arange(2, 7, 2, { dtype = "int64" }):totable(), { 2, 4, 6 })
  lu.assertEquals(lunet.eye(2, { dtype = "bool" }):totable(), { { true, false }, { false, true } })
  lu.assertEquals(lunet.full({2}, 7, { dtype = "int32" }):totable(), { 7, 7 })
end

-- an integer arange is computed in double, not through float32 (which
-- has no 2^25 + 1): exact to 2^53, the same values as before below 2^24
function TestDtypeCreate:test_integer_arange_is_exact()
  local b = 1 << 25
  lu.assertEquals(lunet.arange(b, b + 3, { dtype = "int64" }):totable(), { b, b + 1, b + 2 })
  lu.assertEquals(lunet.arange((1 << 53) - 3, 2^53, 2, { dtype = "int64" }):totable(),
                  { (1 << 53) - 3, (1 << 53) - 1 })
  lu.assertEquals(lunet.arange(5, 0, -1.5, { dtype = "int64" }):totable(), { 5, 3, 2, 0 })
  lu.assertEquals(lunet.arange(-3, 0, { dtype = "int32" }):totable(), { -3, -2, -1 })
  lu.assertEquals(lunet.arange(250, 260, 3, { dtype = "uint8" }):totable(), { 250, 253, 0, 3 })
  lu.assertEquals(lunet.arange(0, 1, 0.25, { dtype = "bool" }):totable(), { false, true, true, true })
  H.raises("arange: value 1e+30 has no int64 value",
           function() return lunet.arange(1e30, 1e30 + 1e15, 1e14, { dtype = "int64" }) end)
  H.raises("arange: value -1e+19 has no int32 value",
           function() return lunet.arange(-1e19, 0, 1e18, { dtype = "int32" }) end)
end

function TestDtypeCreate:test_booleans_make_bool_tensors()
  local m = lunet.tensor{ { true, false }, { false, true } }
  lu.assertEquals(m.dtype, "bool")
  lu.assertEquals(m:totable(), { { true, false }, { false, true } })
  lu.assertEquals(lunet.full({2}, true).dtype, "bool")
end

function TestDtypeCreate:test_like_keeps_the_dtype()
  local x = lunet.tensor({ 1, 2 }, { dtype = "int64" })
  lu.assertEquals(lunet.zeros_like(x).dtype, "int64")
  lu.assertEquals(lunet.full_like(x, 9):totable(), { 9, 9 })
  lu.assertEquals(lunet.ones_like(x, { dtype = "float32" }).dtype, "float32")
  lu.assertEquals(lunet.rand_like(x).dtype, "float32")
end

function TestDtypeCreate:test_errors()
  H.raises("zeros: only float32 tensors can require gradients, not int64",
           lunet.zeros, { 2 }, { dtype = "int64", requires_grad = true })
  H.raises("zeros: unknown dtype float16 (float32, int64, int32, uint8, bool)",
           lunet.zeros, { 2 }, { dtype = "float16" })
  H.raises("rand: draws float32 values, not int64", lunet.rand, { 2 }, { dtype = "int64" })
  H.raises("tensor: entry [2] is 1.5, not an integer (the tensor is int64)",
           lunet.tensor, { 1, 1.5 }, { dtype = "int64" })
  H.raises("tensor: entry [1] 300 is out of range for uint8", function()
    return lunet.tensor({ 300 }, { dtype = "uint8" })
  end)
  local x = lunet.tensor({ 1 }, { dtype = "int64" })
  H.raises("requires_grad: only float32 tensors can require gradients, not int64",
           function() x.requires_grad = true end)
  H.raises("requires_grad: only float32 tensors can require gradients", x.requires_grad, x, true)
  H.raises("grad: gradients are float32 (assigned int64 to a float32 tensor)",
           function() lunet.zeros{1}.grad = x end)
end

TestDtypeConvert = {}

function TestDtypeConvert:test_conversions()
  local f = lunet.tensor{ -1.7, -0.2, 0, 2.9 }
  lu.assertEquals(f:long():totable(), { -1, 0, 0, 2 })             -- truncation, as C and PyTorch
  lu.assertEquals(f:int().dtype, "int32")
  lu.assertEquals(f:bool():totable(), { true, true, false, true })
  lu.assertEquals(lunet.tensor{ 0 / 0 }:bool():item(), true)        -- NaN is true
  lu.assertEquals(lunet.tensor({ 3, -1 }, { dtype = "int64" }):byte():totable(), { 3, 255 })
  lu.assertEquals(f:to("int64"):totable(), f:long():totable())
  lu.assertTrue(rawequal(f:float(), f))                            -- already float32: itself
  H.raises("to int64: value nan has no integer value", function() return lunet.tensor{ 0 / 0 }:long() end)
  H.raises("to int64: value inf has no integer value", function() return lunet.tensor{ 1 / 0 }:long() end)
  H.raises("to: unknown dtype half", f.to, f, "half")
  lu.assertTrue(f:is_floating_point())
  lu.assertFalse(f:long():is_floating_point())
end

function TestDtypeConvert:test_int64_is_exact()
  local big = (1 << 53) + 1                                    -- not a float
  local x = lunet.tensor({ big, -big }, { dtype = "int64" })
  lu.assertEquals(x:totable(), { big, -big })
  lu.assertEquals(math.type(x[1]), "integer")
  lu.assertEquals((x + 1):totable(), { big + 1, -big + 1 })
  lu.assertEquals(x:max():item(), big)
  lu.assertEquals(x:sum():item(), 0)
  lu.assertEquals(lunet.full({1}, big, { dtype = "int64" }):item(), big)
end

function TestDtypeConvert:test_elements_by_dtype()
  local x = lunet.zeros({ 2, 2 }, { dtype = "int64" })
  x[{ 1, 2 }] = 5
  x:set({ 2, 1 }, -3)
  lu.assertEquals(x:totable(), { { 0, 5 }, { -3, 0 } })
  lu.assertEquals(math.type(x:get{ 1, 2 }), "integer")
  H.raises("index assignment: value is 2.5, not an integer (the tensor is int64)", function() x[{ 1, 1 }] = 2.5 end)
  local m = lunet.zeros({ 3 }, { dtype = "bool" })
  m[2] = true
  lu.assertEquals(m:totable(), { false, true, false })
  lu.assertEquals(m:fill_(true):totable(), { true, true, true })
  H.raises("uniform_: draws float32 values, the tensor is int64", x.uniform_, x)
end

function TestDtypeConvert:test_printing_shows_the_dtype()
  lu.assertEquals(tostring(lunet.tensor({ 1, -20 }, { dtype = "int64" })),
                  "tensor([  1, -20], shape={2}, dtype=int64)")
  lu.assertEquals(tostring(lunet.tensor{ true, false }),
                  "tensor([ true, false], shape={2}, dtype=bool)")
  lu.assertEquals(tostring(lunet.tensor{ 1, 2 }), "tensor([1., 2.], shape={2})")
end

TestDtypePromote = {}

local function I(t) return lunet.tensor(t, { dtype = "int64" }) end

function TestDtypePromote:test_integer_arithmetic_stays_integer()
  local a, b = I{ 7, -7 }, I{ 2, 2 }
  lu.assertEquals((a + b).dtype, "int64")
  lu.assertEquals((a * 3):totable(), { 21, -21 })
  lu.assertEquals((a - b):totable(), { 5, -9 })
  lu.assertEquals((a // b):totable(), { 3, -4 })                 -- floor
  lu.assertEquals((a % b):totable(), { 1, 1 })                   -- sign of the divisor
  lu.assertEquals(lunet.fmod(a, b):totable(), { 1, -1 })         -- sign of the dividend
  lu.assertEquals((a ^ 2):totable(), { 49, 49 })
  lu.assertEquals((-a):totable(), { -7, 7 })
  lu.assertEquals(a:abs():totable(), { 7, 7 })
  lu.assertEquals(lunet.maximum(a, b):totable(), { 7, 2 })
  lu.assertEquals((a / b).dtype, "float32")                      -- true division
  H.assert_close(a / b, { 3.5, -3.5 }, 0)
  lu.assertEquals((a + 0.5).dtype, "float32")                    -- a Lua float promotes
  lu.assertEquals((a + 1.0).dtype, "float32")
  lu.assertEquals((a + lunet.tensor{ 0.5, 0.5 }).dtype, "float32")
  lu.assertEquals(a:exp().dtype, "float32")                      -- float ops compute in float32
  lu.assertEquals(lunet.tensor({ 1 }, { dtype = "int32" }) + 1 == nil, false)
  lu.assertEquals((lunet.tensor({ 1 }, { dtype = "int32" }) + 1).dtype, "int32")
  lu.assertEquals((lunet.tensor({ 1 }, { dtype = "int32" }) + I{ 1 }).dtype, "int64")
  lu.assertEquals((lunet.tensor({ 250 }, { dtype = "uint8" }) + 10):totable(), { 4 })   -- wraps
end

function TestDtypePromote:test_bools()
  local p, q = lunet.tensor{ true, true, false }, lunet.tensor{ true, false, false }
  lu.assertEquals((p + q):totable(), { true, true, false })
  lu.assertEquals((p * q):totable(), { true, false, false })
  lu.assertEquals((p & q):totable(), { true, false, false })
  lu.assertEquals((p | q):totable(), { true, true, false })
  lu.assertEquals((p ~ q):totable(), { false, true, false })
  lu.assertEquals((~p):totable(), { false, false, true })
  lu.assertEquals((p + 1):totable(), { 2, 2, 1 })
  lu.assertEquals((p + 1).dtype, "int64")
  lu.assertEquals(lunet.logical_and(lunet.tensor{ 1, 0, 2 }, p):totable(), { true, false, false })
  lu.assertEquals(lunet.logical_not(lunet.tensor{ 1, 0 }):totable(), { false, true })
  lu.assertEquals((~I{ 0, 5 }):totable(), { -1, -6 })
  H.raises("sub: subtracting bool tensors is not supported", function() return p - q end)
  H.raises("neg: negating a bool tensor is not supported", function() return -p end)
  H.raises("bitwise_and: float32 tensors have no bitwise ops", function() return lunet.ones{ 2 } & p end)
end

function TestDtypePromote:test_integer_errors()
  H.raises("floor_divide: integer division by zero", function() return I{ 1 } // I{ 0 } end)
  H.raises("remainder: integer division by zero", function() return I{ 1 } % 0 end)
  H.raises("pow: integers to negative integer powers are not allowed (got -1)",
           function() return I{ 2 } ^ I{ -1 } end)
  lu.assertEquals((I{ math.mininteger } // -1):totable(), { math.mininteger })   -- wraps, no trap
end

function TestDtypePromote:test_comparisons_give_bool()
  local x = lunet.tensor{ 1, 5, 3 }
  local m = x:gt(2)
  lu.assertEquals(m.dtype, "bool")
  lu.assertEquals(m:totable(), { false, true, true })
  lu.assertEquals(I{ 1, 5 }:eq(lunet.tensor{ 1, 4.5 }):totable(), { true, false })
  lu.assertEquals(I{ 1, 5 }:lt(2.5):totable(), { true, false })
  lu.assertEquals(m:sum().dtype, "int64")
  lu.assertEquals(m:sum():item(), 2)
  H.assert_close(m:mean(), 2 / 3, 1e-6)                         -- a fraction, where PyTorch refuses
  lu.assertEquals(m:any():item(), true)
  lu.assertEquals(m:all():item(), false)
end

-- every place a 0/1 float mask worked, a bool mask works the same
function TestDtypePromote:test_bool_masks_work_where_float_masks_did()
  lunet.manual_seed(3)
  local x = lunet.randn{ 3, 4 }
  local b = x:gt(0)
  local f = b:float()
  H.assert_close(x:masked_fill(b, -1), x:masked_fill(f, -1), 0)
  H.assert_close(lunet.where(b, x, 0), lunet.where(f, x, 0), 0)
  H.assert_close(x * b, x * f, 0)
  H.assert_close(b:matmul(x:t()), f:matmul(x:t()), 1e-6)
  H.assert_close(lunet.sum(b, 2), f:sum(2), 0)
  local q, kv = lunet.randn{ 1, 2, 3, 4 }, lunet.randn{ 1, 2, 3, 4 }
  local mask = lunet.tensor{ { 1, 1, 0 } }
  H.assert_close(lunet.attention(q, kv, kv, { mask = mask:bool() }),
                 lunet.attention(q, kv, kv, { mask = mask }), 1e-6)
  -- comparisons feed arithmetic as before (float * bool -> float)
  local g = lunet.randn({ 3, 4 }, { requires_grad = true })
  H.gradcheck(function(g) return g * g:detach():gt(0) end, { g })
end

function TestDtypePromote:test_where_and_masked_fill_keep_integers()
  local m = lunet.tensor{ true, false, true }
  local w = lunet.where(m, I{ 1, 2, 3 }, 0)
  lu.assertEquals(w.dtype, "int64")
  lu.assertEquals(w:totable(), { 1, 0, 3 })
  lu.assertEquals(lunet.where(m, 1, 0).dtype, "int64")
  local x = I{ 5, 6, 7 }:masked_fill(m, -1)
  lu.assertEquals(x:totable(), { -1, 6, -1 })
  lu.assertEquals(lunet.where(m, I{ 1, 2, 3 }, 0.5).dtype, "float32")
  lu.assertEquals(lunet.tensor{ false, false }:masked_fill(lunet.tensor{ true, false }, true):totable(),
                  { true, false })
end

function TestDtypePromote:test_cat_and_stack_promote()
  local c = lunet.cat({ I{ 1, 2 }, lunet.tensor{ 0.5 } }, 1)
  lu.assertEquals(c.dtype, "float32")
  H.assert_close(c, { 1, 2, 0.5 }, 0)
  lu.assertEquals(lunet.stack{ I{ 1 }, I{ 2 } }.dtype, "int64")
  lu.assertEquals(lunet.cat{ lunet.tensor{ true }, I{ 3 } }:totable(), { 1, 3 })
end

function TestDtypePromote:test_allclose_and_equal()
  local a = lunet.tensor{ 1, 2, 3 }
  lu.assertTrue(lunet.allclose(a, a + 1e-6))
  lu.assertFalse(lunet.allclose(a, a + 1e-3))
  lu.assertTrue(a:allclose(a + 1e-3, { atol = 1e-2 }))
  lu.assertTrue(lunet.allclose(a, lunet.tensor{ 1 } * 2 - 1 + lunet.tensor{ 0, 1, 2 }))
  lu.assertTrue(lunet.allclose(lunet.tensor{ { 1 }, { 1 } }, lunet.tensor{ 1, 1, 1 }))   -- broadcasts
  lu.assertFalse(lunet.allclose(lunet.tensor{ 0 / 0 }, lunet.tensor{ 0 / 0 }))
  lu.assertTrue(lunet.allclose(lunet.tensor{ 0 / 0 }, lunet.tensor{ 0 / 0 }, { equal_nan = true }))
  lu.assertTrue(lunet.allclose(lunet.tensor{ 1 / 0 }, lunet.tensor{ 1 / 0 }))
  lu.assertTrue(lunet.allclose(I{ 3 }, lunet.tensor{ 3 }))
  lu.assertTrue(lunet.equal(a, a:clone()))
  lu.assertFalse(lunet.equal(a, a:view{ 3, 1 }))                 -- shapes must match
  lu.assertFalse(a:equal(a + 1e-6))
  H.raises("allclose: unknown option 'tol'", lunet.allclose, a, a, { tol = 1 })
  H.raises("allclose: shapes {3} and {2} do not broadcast", lunet.allclose, a, lunet.zeros{ 2 })
end

TestDtypeReduce = {}

function TestDtypeReduce:test_integer_reductions_are_exact()
  local x = I{ { 3, 9, 9 }, { -2, -8, 4 } }
  lu.assertEquals(x:sum(2):totable(), { 21, -6 })
  lu.assertEquals(x:sum(1, true):totable(), { { 1, 1, 13 } })
  local v, i = x:max(2)
  lu.assertEquals(v:totable(), { 9, 4 })
  lu.assertEquals(i:totable(), { 2, 3 })                          -- first of the ties
  v, i = x:min(1)
  lu.assertEquals(v:totable(), { -2, -8, 4 })
  lu.assertEquals(i:totable(), { 2, 2, 2 })
  lu.assertEquals(x:argmax():item(), 2)
  lu.assertEquals(x:argmin(2):totable(), { 1, 2 })
  lu.assertEquals(x:argmax().dtype, "int64")
  local big = lunet.full({ 4 }, 1 << 40, { dtype = "int64" })
  lu.assertEquals(big:sum():item(), 1 << 42)                      -- past float32's 2^24
  H.raises("max: reduction over an empty dim", function() return lunet.zeros({ 2, 0 }, { dtype = "int64" }):max(2) end)
end

function TestDtypeReduce:test_indices_are_int64_and_1_based()
  local x = lunet.tensor{ { 1, 7, 3 }, { 9, 2, 2 } }
  local _, i = x:max(2)
  lu.assertEquals(i.dtype, "int64")
  lu.assertEquals(i:totable(), { 2, 1 })
  lu.assertEquals(x:argmin(2):totable(), { 1, 2 })
  lu.assertEquals(x:argmin():item(), 1)
  -- indices feed the ops that take ids
  lu.assertEquals(x:gather(2, x:argmax(2, true)):totable(), { { 7 }, { 9 } })
end

TestDtypeIds = {}

function TestDtypeIds:test_embedding_takes_integer_and_whole_float_ids()
  lunet.manual_seed(5)
  local w = lunet.randn{ 6, 3 }
  local a = lunet.embedding(I{ { 1, 6 }, { 2, 2 } }, w)
  H.assert_close(a, lunet.embedding(lunet.tensor{ { 1, 6 }, { 2, 2 } }, w), 0)
  H.assert_close(a[1][2], w[6], 0)
  H.raises("embedding: ids must be integers, got 1.5", lunet.embedding, lunet.tensor{ 1.5 }, w)
  H.raises("embedding: id 0 out of range for 6 embeddings (ids are 1-based: 1..6)",
           lunet.embedding, I{ 0 }, w)
  H.raises("embedding: id 7 out of range for 6 embeddings", lunet.embedding, I{ 7 }, w)
  H.raises("embedding: ids must be integers, got a bool tensor", lunet.embedding, lunet.tensor{ true }, w)
  local m = lunet.nn.Embedding(6, 3)
  lu.assertEquals(m(I{ { 1, 2 } }):shape(), { 1, 2, 3 })
end

function TestDtypeIds:test_cross_entropy_takes_integer_targets()
  lunet.manual_seed(6)
  local logits = lunet.randn({ 4, 5 }, { requires_grad = true })
  local t = I{ 1, 5, 3, 0 }
  local a = lunet.cross_entropy(logits, t, { ignore_index = 0 })
  local b = lunet.cross_entropy(logits, t:float(), { ignore_index = 0 })
  H.assert_close(a, b, 0)
  H.gradcheck(function(l) return lunet.cross_entropy(l, t, { ignore_index = 0 }) end, { logits })
  H.raises("cross_entropy: targets must be integers, got 2.5", lunet.cross_entropy, logits, lunet.tensor{ 1, 2.5, 1, 1 })
  H.raises("cross_entropy: target 0 out of range for 5 classes (targets are 1-based: 1..5)",
           lunet.cross_entropy, logits, I{ 1, 0, 1, 1 })
end

TestDtypeSafetensors = {}

local TMP = "tmp"

function TestDtypeSafetensors:test_round_trip_keeps_every_dtype()
  os.execute("mkdir -p " .. TMP)
  local path = TMP .. "/dtypes.safetensors"
  local big = 1 << 62
  local ts = {
    ids = I{ { 1, big }, { -big, 0 } },
    i32 = lunet.tensor({ -5, 2147483647 }, { dtype = "int32" }),
    u8 = lunet.tensor({ 0, 255 }, { dtype = "uint8" }),
    mask = lunet.tensor{ true, false, true },
    f = lunet.tensor{ 1.5, -2 },
    strided = I{ { 1, 2 }, { 3, 4 } }:t(),
  }
  lunet.save(path, ts)
  local back = lunet.load(path)
  for k, t in pairs(ts) do
    lu.assertEquals(back[k].dtype, t.dtype, k)
    lu.assertEquals(back[k]:totable(), t:totable(), k)
  end
  local header = H.read_file(path)
  lu.assertStrContains(header, '"ids":{"dtype":"I64"')
  lu.assertStrContains(header, '"mask":{"dtype":"BOOL"')
  lu.assertStrContains(header, '"u8":{"dtype":"U8"')
  lu.assertStrContains(header, '"i32":{"dtype":"I32"')
  os.remove(path)
end

-- a Hugging Face checkpoint with I64 position_ids beside its weights loads
function TestDtypeSafetensors:test_foreign_integer_and_bool_tensors_load()
  os.execute("mkdir -p " .. TMP)
  local header = '{"position_ids":{"dtype":"I64","shape":[1,3],"data_offsets":[0,24]},' ..
                 '"flags":{"dtype":"BOOL","shape":[2],"data_offsets":[24,26]},' ..
                 '"w":{"dtype":"F32","shape":[1],"data_offsets":[26,30]}}'
  local data = string.pack("<i8i8i8", 0, 1, 2) .. "\0\2" .. string.pack("<f", 0.5)
  local path = TMP .. "/foreign.safetensors"
  H.write_file(path, string.pack("<I8", #header) .. header .. data)
  local t = lunet.load(path)
  lu.assertEquals(t.position_ids.dtype, "int64")
  lu.assertEquals(t.position_ids:totable(), { { 0, 1, 2 } })
  lu.assertEquals(t.flags:totable(), { false, true })           -- any nonzero byte is true
  H.assert_close(t.w, { 0.5 }, 0)
  os.remove(path)
end
