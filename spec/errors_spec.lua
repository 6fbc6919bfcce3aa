-- Misuse of the core raises a Lua error whose message names the op and
-- the offending shapes or values (DESIGN.md: "Every error reaching Lua is
-- a Lua error with a message that names the op ...").  One test per
-- misuse; each asserts the message text.
local lu = require "luaunit"
local lunet = require "lunet"
local H = require "helpers"

local function t23() return lunet.zeros{2, 3} end
local function t234() return lunet.zeros{2, 3, 4} end
local function leaf(shape) return lunet.zeros(shape):requires_grad(true) end

-- {name, text the message must contain, function raising it}
local CASES = {
  -- shapes and creation
  {"view_numel", "view: shape {7} is invalid for 6 elements",
    function() return t23():view{7} end},
  {"view_two_infers", "view: shape {-1,-1} is invalid for 6 elements",
    function() return t23():view(-1, -1) end},
  {"view_infer_no_fit", "view: shape {4,-1} is invalid for 6 elements",
    function() return t23():view{4, -1} end},
  {"view_strides", "view: shape {6} is not compatible with the strides of a {3,2} input (use reshape)",
    function() return t23():t():view{6} end},
  {"view_string", "view: shape must be a table of integers, got string",
    function() return t23():view("2,3") end},
  {"view_nil", "view: shape required",
    function() return t23():view(nil) end},
  {"reshape_numel", "reshape: shape {4} is invalid for 6 elements",
    function() return t23():reshape{4} end},
  {"zeros_too_many_dims", "zeros: 9 dimensions (at most 8)",
    function() return lunet.zeros{1, 1, 1, 1, 1, 1, 1, 1, 1} end},
  {"ones_too_many_dims_varargs", "ones: 9 dimensions (at most 8)",
    function() return lunet.ones(1, 1, 1, 1, 1, 1, 1, 1, 1) end},
  {"negative_shape", "ones: shape entry 2 is negative (-3)",
    function() return lunet.ones{2, -3} end},
  {"minus_one_shape_in_creation", "zeros: shape entry 1 is negative (-1)",
    function() return lunet.zeros{-1, 2} end},
  {"float_shape", "randn: shape entry 1 must be an integer, got 1.5",
    function() return lunet.randn{1.5} end},
  {"string_shape_entry", "rand: shape entry 2 must be an integer, got string",
    function() return lunet.rand{2, "3"} end},
  {"zeros_too_large", "zeros: shape {10000000000,10000000000} has too many elements",
    function() return lunet.zeros{1e10, 1e10} end},
  {"randn_too_large_varargs", "randn: shape {1099511627776,1099511627776} has too many elements",
    function() return lunet.randn(2^40, 2^40) end},
  {"full_too_large", "full: shape {10000000000,10000000000} has too many elements",
    function() return lunet.full({1e10, 1e10}, 1) end},
  {"randint_too_large", "randint: shape {10000000000,10000000000} has too many elements",
    function() return lunet.randint(0, 3, {1e10, 1e10}) end},
  {"negative_before_too_large", "zeros: shape entry 1 is negative (-1)",
    function() return lunet.zeros{-1, 1e10} end},
  {"full_minus_one", "full: shape entry 1 is negative (-1)",
    function() return lunet.full({-1, 2}, 0) end},
  {"uniform_minus_one", "uniform: shape entry 2 is negative (-1)",
    function() return lunet.uniform{2, -1} end},
  {"randint_minus_one", "randint: shape entry 1 is negative (-1)",
    function() return lunet.randint(0, 2, {-1, 2}) end},
  -- a view's shape is checked against the input, as PyTorch does
  {"view_too_large", "view: shape {10000000000,10000000000} is invalid for 6 elements",
    function() return t23():view{1e10, 1e10} end},
  {"tile_negative", "tile: repeat count -1 for dim 1 is out of range",
    function() return lunet.zeros{3}:tile(-1) end},
  {"eye_negative", "eye: sizes must be non-negative, got -2 and -2",
    function() return lunet.eye(-2) end},
  {"eye_negative_m", "eye: sizes must be non-negative, got 2 and -3",
    function() return lunet.eye(2, -3) end},
  {"arange_zero_step", "arange: invalid range (0, 5, step 0)",
    function() return lunet.arange(0, 5, 0) end},
  {"tensor_non_number", "tensor: entry [2][2] is string, expected a number",
    function() return lunet.tensor{{1, 2}, {3, "x"}} end},
  {"tensor_boolean", "tensor: entry [2] is boolean, expected a number",
    function() return lunet.tensor{1, true} end},
  {"tensor_table_for_number", "tensor: entry [2][1] is table, expected a number",
    function() return lunet.tensor{{1}, {{2}}} end},
  {"tensor_ragged", "tensor: ragged nesting: entry [2] has 1 entries, expected 2",
    function() return lunet.tensor{{1, 2}, {3}} end},
  {"tensor_number_for_row", "tensor: entry [2] is number, expected a table of 2 entries",
    function() return lunet.tensor{{1, 2}, 3} end},
  {"tensor_too_deep", "tensor: nested deeper than 8",
    function() return lunet.tensor{{{{{{{{{1}}}}}}}}} end},
  -- dims
  {"transpose_dim", "transpose: dim 4 out of range for a 3-d tensor",
    function() return t234():transpose(1, 4) end},
  {"transpose_negative_dim", "transpose: dim -4 out of range for a 3-d tensor",
    function() return t234():transpose(-4, 1) end},
  {"dim_zero", "size: dim 0 out of range for a 3-d tensor",
    function() return t234():size(0) end},
  {"float_dim", "transpose: dim must be an integer, got 1.5",
    function() return t234():transpose(1.5, 2) end},
  {"nil_dim", "select: dim must be an integer, got nil",
    function() return t234():select(nil, 1) end},
  {"t_of_3d", "t: expects a tensor with <= 2 dims, got 3",
    function() return t234():t() end},
  {"squeeze_dim", "squeeze: dim 4 out of range for a 3-d tensor",
    function() return t234():squeeze(4) end},
  {"unsqueeze_dim", "unsqueeze: dim 5 out of range for a 3-d tensor",
    function() return t234():unsqueeze(5) end},
  {"unsqueeze_zero", "unsqueeze: dim 0 out of range for a 3-d tensor",
    function() return t234():unsqueeze(0) end},
  {"unsqueeze_max_dims", "unsqueeze: a tensor has at most 8 dimensions",
    function() return lunet.zeros{1, 1, 1, 1, 1, 1, 1, 1}:unsqueeze(1) end},
  {"flatten_order", "flatten: start dim 3 comes after end dim 1",
    function() return t234():flatten(3, 1) end},
  {"permute_repeated", "permute: dim 1 repeated",
    function() return t234():permute(1, 1, 2) end},
  {"permute_count", "permute: 2 dims given for a 3-d tensor",
    function() return t234():permute(2, 1) end},
  {"permute_range", "permute: dim 4 out of range for a 3-d tensor",
    function() return t234():permute(1, 2, 4) end},
  -- sub-views
  {"narrow_range", "narrow: start 2 and length 3 exceed dim 1 of size 3",
    function() return lunet.zeros{3}:narrow(1, 2, 3) end},
  {"narrow_dim", "narrow: dim 3 out of range for a 2-d tensor",
    function() return t23():narrow(3, 1, 1) end},
  {"narrow_0d", "narrow: cannot narrow a 0-d tensor",
    function() return lunet.tensor(1):narrow(1, 1, 1) end},
  {"select_range", "select: index 4 out of range for dim 2 of size 3",
    function() return t23():select(2, 4) end},
  {"select_negative_range", "select: index -5 out of range for dim 1 of size 3",
    function() return lunet.zeros{3}:select(1, -5) end},
  {"narrow_negative_range", "narrow: start -5 and length 1 exceed dim 1 of size 3",
    function() return lunet.zeros{3}:narrow(1, -5, 1) end},
  {"select_0d", "select: cannot index a 0-d tensor",
    function() return lunet.tensor(1):select(1, 1) end},
  {"expand_incompatible", "expand: cannot expand shape {2,3} to {4,3}",
    function() return t23():expand(4, 3) end},
  {"expand_fewer_dims", "expand: cannot expand shape {2,3} to {3}",
    function() return t23():expand(3) end},
  {"expand_new_dim_minus_one", "expand: cannot expand shape {3} to {-1,3}",
    function() return lunet.zeros{3}:expand(-1, 3) end},
  {"split_size_zero", "split: size must be positive, got 0",
    function() return t23():split(0) end},
  {"split_0d", "split: cannot split a 0-d tensor",
    function() return lunet.tensor(1):split(1) end},
  {"chunk_zero", "chunk: number of chunks must be positive, got 0",
    function() return t23():chunk(0) end},
  {"chunk_negative", "chunk: number of chunks must be positive, got -2",
    function() return t23():chunk(-2) end},
  -- joins
  {"cat_mismatch", "cat: tensor 2 has shape {2,4}, expected {2,3} except in dim 1",
    function() return lunet.cat({t23(), lunet.zeros{2, 4}}, 1) end},
  {"cat_ndim_mismatch", "cat: tensor 2 has shape {3}, expected {2,3} except in dim 1",
    function() return lunet.cat({t23(), lunet.zeros{3}}, 1) end},
  {"cat_empty", "cat: expected a non-empty list of tensors",
    function() return lunet.cat({}, 1) end},
  {"cat_non_tensor", "cat: entry 2 is number, expected a tensor",
    function() return lunet.cat({t23(), 5}, 1) end},
  {"cat_0d", "cat: 0-d tensors cannot be concatenated (use stack)",
    function() return lunet.cat({lunet.tensor(1), lunet.tensor(2)}, 1) end},
  {"cat_dim", "cat: dim 3 out of range for a 2-d tensor",
    function() return lunet.cat({t23(), t23()}, 3) end},
  {"stack_mismatch", "stack: tensor 2 has shape {3}, expected {2}",
    function() return lunet.stack({lunet.zeros{2}, lunet.zeros{3}}, 1) end},
  {"stack_empty", "stack: expected a non-empty list of tensors",
    function() return lunet.stack({}, 1) end},
  {"stack_dim", "stack: dim 3 out of range for a 2-d tensor",
    function() return lunet.stack({lunet.zeros{2}, lunet.zeros{2}}, 3) end},
  {"stack_non_tensor", "stack: entry 1 is string, expected a tensor",
    function() return lunet.stack({"a"}, 1) end},
  -- elementwise
  {"add_broadcast", "add: shapes {2,3} and {4} do not broadcast (3 ~= 4 in dim 2)",
    function() return t23() + lunet.zeros{4} end},
  {"mul_broadcast", "mul: shapes {2,1,3} and {4,2} do not broadcast (3 ~= 2 in dim 3)",
    function() return lunet.zeros{2, 1, 3} * lunet.zeros{4, 2} end},
  {"lt_broadcast", "lt: shapes {2} and {3} do not broadcast (2 ~= 3 in dim 1)",
    function() return lunet.zeros{2}:lt(lunet.zeros{3}) end},
  {"add_string", "add: argument 2 must be a tensor or number, got string",
    function() return t23() + "a" end},
  {"sub_nil", "sub: argument 2 must be a tensor or number, got nil",
    function() return t23() - nil end},
  {"mul_boolean_first", "mul: argument 1 must be a tensor or number, got boolean",
    function() return lunet.mul(true, t23()) end},
  {"unary_non_tensor", "exp: argument 1 must be a tensor, got number",
    function() return lunet.exp(5) end},
  {"unary_nil", "sigmoid: argument 1 must be a tensor, got nil",
    function() return lunet.sigmoid(nil) end},
  {"clamp_min_max", "clamp: min 2 is greater than max 1",
    function() return t23():clamp(2, 1) end},
  {"clamp_neither", "clamp: at least one of min and max must be given",
    function() return t23():clamp() end},
  {"gelu_approximate", "gelu: approximate must be 'none' or 'tanh', got 'erf'",
    function() return t23():gelu("erf") end},
  {"gelu_approximate_type", "gelu: approximate must be 'none' or 'tanh', got number",
    function() return t23():gelu(1) end},
  {"reduction_type", "mse_loss: reduction must be 'mean', 'sum' or 'none', got table",
    function() return lunet.mse_loss(t23(), t23(), {reduction = {}}) end},
  {"where_broadcast", "where: shapes {3} and {2} do not broadcast (3 ~= 2 in dim 1)",
    function() return lunet.where(lunet.zeros{3}, lunet.zeros{2}, 1) end},
  {"masked_fill_shape", "masked_fill: mask of shape {3,2} does not broadcast to the input's {2}",
    function() return lunet.zeros{2}:masked_fill(lunet.zeros{3, 2}, 1) end},
  -- element access
  {"item_many", "item: tensor of shape {2,3} has 6 elements, expected 1",
    function() return t23():item() end},
  {"get_range", "get: index 3 out of range for dim 1 of size 2",
    function() return t23():get{3, 1} end},
  {"get_negative_range", "get: index -4 out of range for dim 2 of size 3",
    function() return t23():get{1, -4} end},
  {"get_count", "get: 1 indices for a 2-d tensor",
    function() return t23():get{1} end},
  {"get_float_index", "get: index 1 must be an integer, got 1.5",
    function() return t23():get{1.5, 1} end},
  {"set_range", "set: index 4 out of range for dim 2 of size 3",
    function() return t23():set({1, 4}, 0) end},
  {"set_count", "set: 3 indices for a 2-d tensor",
    function() return t23():set({1, 1, 1}, 0) end},
  {"index_range", "index: index 5 out of range for dim 1 of size 3",
    function() return lunet.zeros{3}[5] end},
  {"index_zero", "index: index 0 out of range for dim 1 of size 2",
    function() return t23()[0] end},
  {"index_table_range", "index: index 3 out of range for dim 1 of size 2",
    function() return t23()[{3, 1}] end},
  {"index_0d", "index: cannot index a 0-d tensor",
    function() return lunet.tensor(1)[1] end},
  {"index_boolean", "index: cannot index a tensor with a boolean",
    function() return t23()[true] end},
  {"newindex_range", "index assignment: index 4 out of range for dim 1 of size 3",
    function() local x = lunet.zeros{3}; x[4] = 1 end},
  {"newindex_table_count", "index assignment: 1 indices for a 2-d tensor",
    function() local x = t23(); x[{1}] = 1 end},
  {"newindex_row", "index assignment: cannot assign to a tensor with a number key",
    function() local x = t23(); x[1] = 1 end},
  {"len_0d", "len: a 0-d tensor has no length",
    function() return #lunet.tensor(1) end},
  {"unknown_field", "tensor: cannot set field 'foo'",
    function() local x = t23(); x.foo = 1 end},
  {"write_requires_grad", "fill_: in-place write to a tensor that requires grad (wrap it in lunet.no_grad)",
    function() return leaf{2}:fill_(1) end},
  {"copy_shape", "copy_: source {4} does not broadcast to {2,3}",
    function() return t23():copy_(lunet.zeros{4}) end},
  -- autograd
  {"backward_no_grad", "backward: tensor does not require grad and has no grad_fn",
    function() return lunet.zeros{1}:backward() end},
  {"backward_non_scalar", "backward: grad can be implicitly created only for a 1-element tensor, got shape {2,3}",
    function() return (leaf{2, 3} * 2):backward() end},
  {"backward_seed_shape", "backward: gradient of shape {3} for a tensor of shape {2}",
    function() return (leaf{2} * 2):backward(lunet.zeros{3}) end},
  {"backward_bad_arg", "backward: argument 2 must be a gradient tensor or an options table, got string",
    function() return (leaf{1} * 2):backward("yes") end},
  {"backward_twice", "backward: the graph through MulBackward was freed by an earlier backward (pass {retain_graph=true} to the first one)",
    function() local y = (leaf{1} * 2); y:backward(); y:backward() end},
  {"grad_shape", "grad: assigned gradient has shape {3}, tensor has {2,3}",
    function() local x = leaf{2, 3}; x.grad = lunet.zeros{3} end},
  {"grad_not_tensor", "grad: argument 3 must be a tensor, got number",
    function() local x = leaf{2}; x.grad = 5 end},
  {"requires_grad_off_non_leaf", "requires_grad: cannot turn off grad of a non-leaf (use detach)",
    function() return (leaf{2} * 2):requires_grad(false) end},
  {"requires_grad_field_non_leaf", "requires_grad: cannot turn off grad of a non-leaf (use detach)",
    function() local y = leaf{2} * 2; y.requires_grad = false end},
  {"no_grad_not_function", "bad argument #1 to 'no_grad' (function expected, got number)",
    function() return lunet.no_grad(5) end},
}

TestErrors = {}

for _, c in ipairs(CASES) do
  local name, text, fn = c[1], c[2], c[3]
  assert(TestErrors["test_" .. name] == nil, "duplicate case " .. name)
  TestErrors["test_" .. name] = function() H.raises(text, fn) end
end

function TestErrors:test_enough_distinct_cases()
  local seen = {}
  for _, c in ipairs(CASES) do seen[c[2]] = true end
  local n = 0
  for _ in pairs(seen) do n = n + 1 end
  lu.assertTrue(n >= 30, "only " .. n .. " distinct messages")
end

-- the message is the whole error, with the caller's position in front
function TestErrors:test_message_has_caller_position()
  local ok, err = pcall(function() return t23():view{7} end)
  lu.assertFalse(ok)
  lu.assertStrMatches(err, ".*errors_spec%.lua:%d+: view: shape {7} is invalid for 6 elements")
end

-- a % in a value must not be taken as a format directive
function TestErrors:test_percent_in_message()
  local ok, err = pcall(function() local x = t23(); x["100%d"] = 1 end)
  lu.assertFalse(ok)
  lu.assertStrContains(err, "tensor: cannot set field '100%d'")
end

-- a failed op leaves its inputs usable and the grad mode unchanged
function TestErrors:test_state_survives_errors()
  local x = leaf{2, 3}
  for _, c in ipairs(CASES) do pcall(c[3]) end
  lu.assertTrue(lunet.is_grad_enabled())
  local y = (x * 2):sum()
  y:backward()
  H.assert_close(x.grad, {{2, 2, 2}, {2, 2, 2}}, 0)
end

function TestErrors:test_matmul_shapes()
  if not lunet.matmul then
    lu.assertNil(lunet.matmul)   -- not built yet: nothing to check
    return
  end
  H.raises("matmul: shapes {2,3} and {4,5} do not align (3 ~= 4)",
           function() return lunet.matmul(t23(), lunet.zeros{4, 5}) end)
end

-- A Lua string may hold a '\0', and a name with more after one is not the
-- name before it (a C string would end there): each string the binding
-- checks against a fixed set of names refuses it, naming the op and
-- showing the whole value, each '\0' written \0 (\000 before a digit, as
-- Lua writes it).  {text the message must contain, function raising it}
local NUL_CASES = {
  {"zeros: unknown dtype int64\\0junk (float32, int64, int32, uint8, bool)",
    function() return lunet.zeros({2}, {dtype = "int64\0junk"}) end},
  {"tensor: unknown dtype long\\0 (float32",               -- an alias
    function() return lunet.tensor({1, 2}, {dtype = "long\0"}) end},
  {"zeros_like: unknown dtype bool\\0x (float32",
    function() return lunet.zeros_like(t23(), {dtype = "bool\0x"}) end},
  {"to: unknown dtype int64\\0x (float32",
    function() return t23():to("int64\0x") end},
  {"randint: unknown dtype int32\\0 (float32",
    function() return lunet.randint(3, {2}, {dtype = "int32\0"}) end},
  {"cross_entropy: reduction must be 'mean', 'sum' or 'none', got 'sum\\0x'",
    function() return lunet.cross_entropy(t23(), lunet.tensor{1, 2}, {reduction = "sum\0x"}) end},
  {"mse_loss: reduction must be 'mean', 'sum' or 'none', got 'none\\0001'",
    function() return lunet.mse_loss(t23(), t23(), {reduction = "none\0" .. "1"}) end},
  {"gelu: approximate must be 'none' or 'tanh', got 'tanh\\0\\0'",
    function() return t23():gelu("tanh\0\0") end},
  {"mlp: approximate must be 'none' or 'tanh', got 'tanh\\0'",
    function() local w = lunet.zeros{3, 3}; return lunet.mlp(t23(), w, nil, w, nil, {approximate = "tanh\0"}) end},
  {"attention: option all_masked must be 'zero' or 'uniform', got 'uniform\\0x'",
    function() local q = lunet.zeros{1, 1, 2, 4}; return lunet.attention(q, q, q, {all_masked = "uniform\0x"}) end},
  {"tensor: cannot set field 'grad\\0x'",
    function() local x = leaf{2, 3}; x["grad\0x"] = t23() end},
  {"tensor: cannot set field 'requires_grad\\0'",
    function() local x = t23(); x["requires_grad\0"] = true end},
  -- an option's name, checked in C and in Lua; the hint is for the real name
  {"zeros: unknown option 'dtype\\0junk' (did you mean 'dtype'?)",
    function() return lunet.zeros({2}, {["dtype\0junk"] = "int64"}) end},
  {"zeros: unknown option 'requires_grad\\0001' (did you mean",
    function() return lunet.zeros({2}, {["requires_grad\0" .. "1"] = true}) end},
  {"gradcheck: unknown option 'eps\\0' (did you mean 'eps'?)",
    function() return lunet.gradcheck(function(x) return x:sum() end, {leaf{2}}, {["eps\0"] = 1}) end},
  {"inspect: unknown option 'x\\0\\0' (known options:",
    function() return lunet.inspect({}, {["x\0\0"] = 1}) end},
  -- a file name: the C library would open the part before the NUL
  {"save: file name 'nul_case\\0.safetensors' contains a NUL byte",
    function() lunet.save("nul_case\0.safetensors", {w = t23()}) end},
  {"load: file name 'nul_case\\0.bak' contains a NUL byte",
    function() return lunet.load("nul_case\0.bak") end},
}

function TestErrors:test_names_with_a_nul_byte()
  for _, c in ipairs(NUL_CASES) do H.raises(c[1], c[2]) end
  lu.assertNil(io.open("nul_case", "rb"), "save wrote the name's prefix")
  -- nor is such a name a property of a tensor: it reads as nil, like any
  -- unknown key
  local x = leaf{2}
  x:sum():backward()
  for _, k in ipairs {"grad\0", "grad_fn\0x", "is_leaf\0", "dtype\0x", "sum\0"} do
    lu.assertNil(x[k], k)
  end
  lu.assertEquals(x.dtype, "float32")
  lu.assertTrue(x.is_leaf)
end
