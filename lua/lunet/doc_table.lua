-- The documentation of what has no comment of its own for lunet.doc to
-- read: the core's C functions (lunet.X, and x:X where the method is the
-- same function) and the Tensor-only methods, and objects that factories
-- make (the optimisers, the toy tasks).  Keys are the names help() shows;
-- the first line of each text is its summary in member lists.  Dims and
-- indices are 1-based; negative dims count from the end.
local D = {}

local function doc(name, text) D[name] = text end

-- ---------------------------------------------------------------- lunet, the Tensor

doc("lunet", [[
lunet: tensors, autograd and ops from the C core, and the Lua library on
top.  Everything the core exports is here (lunet.zeros, lunet.matmul,
...); the parts load on first use: lunet.nn, lunet.optim, lunet.data,
lunet.profile, lunet.train, lunet.compare, lunet.sweep, lunet.plot,
lunet.autograd, lunet.inspect, lunet.save_checkpoint/load_checkpoint.]])

doc("lunet.Tensor", [[
Tensor: a float32 (or int64, int32, uint8, bool) n-d array with autograd.
Methods are called as x:name(...); most elementwise ops and reductions are
also functions, lunet.name(x, ...).  Fields: x.dtype, x.grad, x.grad_fn,
x.is_leaf; x[i] a row (a value for 1-d), x[{i, j}] an element, x[mask]
and x[ids] selections; + - * / ^ % // and unary minus broadcast; #x is
the size of dim 1.  lunet.Tensor is the method table: add methods here.]])

-- the fields a tensor answers (x.grad, ...), documented as lunet.Tensor.<field>
doc("lunet.Tensor.grad", [[
x.grad: the gradient backward accumulated into x (a leaf that requires
grad), a tensor of x's shape, or nil before any backward.  It adds up over
backward calls: x.grad = nil (or opt:zero_grad()) resets it; assigning a
tensor of x's shape sets it.  lunet.autograd.grad computes gradients
without touching .grad.]])
doc("lunet.Tensor.grad_fn", [[x.grad_fn: the name of the op that made x ("MulBackward"), nil for a leaf or a tensor made without grad.]])
doc("lunet.Tensor.is_leaf", "x.is_leaf: true unless x was computed by a recorded op (it has a grad_fn); only leaves get .grad.")
doc("lunet.Tensor.dtype", "x.dtype: the element type's name, \"float32\", \"int64\", \"int32\", \"uint8\" or \"bool\" (x:to(dtype) converts).")

-- creation
doc("lunet.tensor", "tensor(data [, {dtype=, requires_grad=}]) -> tensor: from a nested table of numbers (or booleans: a bool tensor), or a number (0-d).")
doc("lunet.zeros", "zeros(shape [, {dtype=, requires_grad=}]) -> tensor of zeros; shape is {2, 3} or 2, 3.")
doc("lunet.ones", "ones(shape [, {dtype=, requires_grad=}]) -> tensor of ones.")
doc("lunet.full", "full(shape, value [, {dtype=, requires_grad=}]) -> tensor filled with value.")
doc("lunet.empty", "empty(shape [, opts]) -> an uninitialised tensor (its values are whatever was there).")
doc("lunet.arange", "arange([start,] stop [, step] [, {dtype=}]) -> 1-d tensor start, start+step, ... < stop (start 0, step 1).")
doc("lunet.eye", "eye(n [, m]) -> n x m identity matrix (m = n).")
doc("lunet.rand", "rand(shape [, opts]) -> uniform draws in [0, 1) from lunet's generator (lunet.manual_seed).")
doc("lunet.randn", "randn(shape [, opts]) -> standard normal draws.")
doc("lunet.uniform", "uniform(shape, lo, hi) -> uniform draws in [lo, hi).")
doc("lunet.randint", "randint([low,] high, shape [, {dtype=}]) -> int64 draws in [low, high) (low 0).")
doc("lunet.randperm", "randperm(n) -> int64 1..n in random order.")
doc("lunet.multinomial", "multinomial(probs, n [, {replacement=false}]) -> 1-based int64 ids drawn per row of probs {C} or {R,C}.")
doc("lunet.bernoulli", "bernoulli(p) -> 0/1 floats, 1 with probability p (a tensor of probabilities).")
doc("lunet.zeros_like", "zeros_like(x [, opts]) -> zeros of x's shape and dtype.")
doc("lunet.ones_like", "ones_like(x [, opts]) -> ones of x's shape and dtype.")
doc("lunet.full_like", "full_like(x, value [, opts]) -> value in x's shape and dtype.")
doc("lunet.empty_like", "empty_like(x [, opts]) -> uninitialised, x's shape and dtype.")
doc("lunet.rand_like", "rand_like(x [, opts]) -> uniform [0, 1) draws in x's shape.")
doc("lunet.randn_like", "randn_like(x [, opts]) -> standard normal draws in x's shape.")
doc("lunet.manual_seed", "manual_seed(n): seed lunet's one generator (xoshiro256**): every draw after it repeats, on any machine.")
doc("lunet.get_rng_state", "get_rng_state() -> the generator's state as a uint8 tensor (checkpoints save it).")
doc("lunet.set_rng_state", "set_rng_state(t): restore a state get_rng_state returned: the same draws follow.")
doc("lunet.is_tensor", "is_tensor(v) -> true if v is a lunet tensor.")

-- elementwise
local unary = {
  neg = "-x", exp = "e^x", log = "natural logarithm", sqrt = "square root", rsqrt = "1/sqrt(x)",
  abs = "absolute value", tanh = "hyperbolic tangent", sigmoid = "1/(1+e^-x)", relu = "max(x, 0)",
  silu = "x * sigmoid(x)", sin = "sine", cos = "cosine", square = "x^2",
  floor = "rounded down (gradient 0)", ceil = "rounded up (gradient 0)",
  round = "rounded to nearest, halves to even (gradient 0)", trunc = "rounded toward zero (gradient 0)",
  sign = "-1, 0 or 1 (gradient 0)", isnan = "bool: x is NaN", isinf = "bool: x is +-inf",
  isfinite = "bool: x is neither NaN nor inf", logical_not = "bool: not x",
  bitwise_not = "~x: logical on bools, bitwise on integers",
}
for name, what in pairs(unary) do doc("lunet." .. name, name .. "(x) -> " .. what .. ", elementwise (also x:" .. name .. "()).") end
doc("lunet.gelu", "gelu(x [, 'tanh']) -> GELU, exact (erf) or the tanh approximation, elementwise.")
local binary = {
  add = "a + b", sub = "a - b", mul = "a * b", div = "a / b (true division: float32)",
  pow = "a ^ b", maximum = "the larger of a and b", minimum = "the smaller of a and b",
  remainder = "a % b, with the divisor's sign (Python's)", fmod = "C's fmod: the dividend's sign",
  floor_divide = "a // b, rounded down", eq = "bool: a == b", ne = "bool: a ~= b", lt = "bool: a < b",
  le = "bool: a <= b", gt = "bool: a > b", ge = "bool: a >= b",
  logical_and = "bool: a and b", logical_or = "bool: a or b", logical_xor = "bool: a xor b",
  bitwise_and = "a & b: logical on bools, bitwise on integers", bitwise_or = "a | b (as bitwise_and)",
  bitwise_xor = "a ~ b (as bitwise_and)",
}
for name, what in pairs(binary) do
  doc("lunet." .. name, name .. "(a, b) -> " .. what .. ", elementwise with broadcasting (a number works on either side).")
end
doc("lunet.clamp", "clamp(x, min, max) -> x limited to [min, max] (either may be nil).")
doc("lunet.where", "where(cond, a, b) -> a where cond is true, else b (a and b tensors or numbers, broadcast).")
doc("lunet.masked_fill", "masked_fill(x, mask, v) -> x with v where mask is true.")
doc("lunet.allclose", "allclose(a, b [, {rtol=1e-5, atol=1e-8, equal_nan=false}]) -> boolean: |a-b| <= atol + rtol*|b| everywhere.")
doc("lunet.equal", "equal(a, b) -> boolean: same shape and values.")

-- reductions
local function reduction(name, what)
  doc("lunet." .. name, name .. "(x [, dim [, keepdim]]) -> " .. what .. " over everything, or along dim.")
end
reduction("sum", "the sum (int64 for integer and bool tensors)")
reduction("mean", "the mean (of a bool tensor: the fraction that is true)")
reduction("any", "bool: any element is nonzero")
reduction("all", "bool: every element is nonzero")
reduction("argmax", "the 1-based int64 index of the largest element")
reduction("argmin", "the 1-based int64 index of the smallest element")
doc("lunet.max", "max(x [, dim [, keepdim]]) -> the largest element; along dim: values and 1-based int64 indices.")
doc("lunet.min", "min(x [, dim [, keepdim]]) -> the smallest element; along dim: values and 1-based int64 indices.")
doc("lunet.var", "var(x [, dim] [, {correction=1, keepdim=false}]) -> the variance (Bessel-corrected by default).")
doc("lunet.std", "std(x [, dim] [, {correction=1, keepdim=false}]) -> the standard deviation.")
doc("lunet.norm", "norm(x [, p=2 [, dim [, keepdim]]]) -> the p-norm over everything or along dim.")
doc("lunet.softmax", "softmax(x, dim) -> exp(x) / sum(exp(x)) along dim, stable for large inputs.")
doc("lunet.log_softmax", "log_softmax(x, dim) -> x - logsumexp(x, dim), stable.")
doc("lunet.logsumexp", "logsumexp(x, dim [, keepdim]) -> log(sum(exp(x))) along dim, stable.")
doc("lunet.cumsum", "cumsum(x, dim) -> running sums along dim.")
doc("lunet.cumprod", "cumprod(x, dim) -> running products along dim (right gradients with zeros too).")

-- products, joins, indexing
doc("lunet.matmul", "matmul(a, b) -> the matrix product with PyTorch's rules: vectors, matrices, batches with broadcasting (OpenBLAS).")
doc("lunet.bmm", "bmm(a, b) -> batched product of {B,n,k} and {B,k,m}.")
doc("lunet.cat", "cat(list, dim) -> the tensors joined along dim.")
doc("lunet.stack", "stack(list, dim) -> the tensors stacked along a new dim.")
doc("lunet.gather", "gather(x, dim, index) -> x's elements at the 1-based index along dim.")
doc("lunet.scatter", "scatter(x, dim, index, src) -> x with src (tensor or number) written at index along dim.")
doc("lunet.scatter_", "scatter_(x, dim, index, src) -> x: scatter in place.")
doc("lunet.scatter_add", "scatter_add(x, dim, index, src) -> x with src added at index along dim.")
doc("lunet.scatter_add_", "scatter_add_(x, dim, index, src) -> x: scatter_add in place.")
doc("lunet.index_select", "index_select(x, dim, index) -> the slices of x at the 1-d index along dim.")
doc("lunet.index_add", "index_add(x, dim, index, src) -> x with src's slices added at index along dim.")
doc("lunet.index_add_", "index_add_(x, dim, index, src) -> x: index_add in place.")
doc("lunet.masked_select", "masked_select(x, mask) -> 1-d tensor of the elements where mask is true.")
doc("lunet.masked_scatter", "masked_scatter(x, mask, src) -> x with src's elements, in order, where mask is true.")
doc("lunet.masked_scatter_", "masked_scatter_(x, mask, src) -> x: masked_scatter in place.")
doc("lunet.sort", "sort(x [, dim=-1] [, descending]) -> values, 1-based int64 indices (stable, NaN last).")
doc("lunet.argsort", "argsort(x [, dim=-1] [, descending]) -> the indices sort gives.")
doc("lunet.topk", "topk(x, k [, dim=-1 [, largest=true]]) -> the k largest (or smallest) values and their indices.")
doc("lunet.tril", "tril(x [, k=0]) -> x with elements above the k-th diagonal zeroed (ones{S,S}:tril() is a causal mask).")
doc("lunet.triu", "triu(x [, k=0]) -> x with elements below the k-th diagonal zeroed.")
doc("lunet.flip", "flip(x, dims) -> x reversed along each of dims.")
doc("lunet.roll", "roll(x, shifts [, dims]) -> x's elements shifted cyclically (flattened when no dims).")
doc("lunet.tile", "tile(x, n1, ...) -> x repeated n_i times along each dim.")
doc("lunet.repeat", "repeat(x, n1, ...) -> x repeated along each dim (PyTorch's repeat; as a method x:repeat_tensor(...)).")

-- nn ops
doc("lunet.linear", "linear(x, weight [, bias]) -> x W^T + b: one sgemm, no copy of the weight.")
doc("lunet.mlp", [[
mlp(x, w1, b1, w2, b2 [, {approximate='none'|'tanh', residual=r}]) -> [r +] gelu(x W1^T + b1) W2^T + b2, one fused op (nn.MLP's).
b1, b2 may be nil.  The rows go through both products and the GELU in
chunks on the thread pool; backward keeps only the pre-activation and
recomputes the GELU beside its derivative.  A residual r (the output's
shape) is added inside the op, without a tensor of its own.]])
doc("lunet.embedding", "embedding(ids, weight) -> weight's rows at the 1-based ids (int64, or whole floats).")
doc("lunet.layer_norm", "layer_norm(x, weight, bias [, eps=1e-5]) -> x normalised over its last dim (weight, bias may be nil).")
doc("lunet.rms_norm", "rms_norm(x, weight [, eps=1e-6]) -> x / rms(x) over the last dim, times weight (may be nil).")
doc("lunet.rope", "rope(x, cos, sin [, interleaved=true]) -> rotary position embedding of x {..., S, D} with tables {S, D}.")
doc("lunet.dropout", "dropout(x, p=0.5 [, training=true]) -> x with elements zeroed with probability p, the rest scaled by 1/(1-p).")
doc("lunet.attention", [[
attention(q, k, v [, {mask=, causal=false, scale=1/sqrt(d), dropout=0, bias=, all_masked='zero'}]) -> fused scaled dot-product attention.
q {B,H,S,d}, k and v {B,H,T,d} (k, v may have fewer heads that divide H:
MQA/GQA); mask {B,T} or broadcastable to {B,H,S,T}, 1 keep, 0 masked.  It
keeps no S x T matrix for backward; a query whose keys are all masked gets
zero weights, or with all_masked='uniform' equal weights over its visible
keys (the seeds' -1e9 fill).  bias: one value per query head added to its
scores.  The (batch, head) pairs run on lunet's threads.]])
doc("lunet.cross_entropy", [[
cross_entropy(logits, targets [, {ignore_index=, reduction='mean'|'sum'|'none'}]) -> loss.
Fused with log-softmax; classes on the last dim, targets 1-based ids
(int64 or whole floats); a mean over no counted rows is 0.]])
doc("lunet.mse_loss", "mse_loss(a, b [, {reduction='mean'|'sum'|'none'}]) -> the mean squared error; a and b of one shape.")

-- autograd, memory, io
doc("lunet.no_grad", "no_grad(fn, ...) -> fn(...)'s results, run with gradients off (the mode comes back even if fn raises).")
doc("lunet.enable_grad", "enable_grad(fn, ...) -> fn(...)'s results, run with gradients on.")
doc("lunet.set_grad_enabled", "set_grad_enabled(on) -> the previous mode: gradients recorded or not from now on.")
doc("lunet.is_grad_enabled", "is_grad_enabled() -> whether ops are recorded for backward.")
doc("lunet.detect_anomaly", "detect_anomaly(fn, ...) -> fn(...)'s results, run with anomaly detection: backward fails at the first op whose backward returns NaN or inf, naming it and where its forward was called. detect_anomaly(on) switches it and returns a guard that puts the previous setting back when closed (local g <close> = lunet.detect_anomaly(true)).")
doc("lunet.is_anomaly_enabled", "is_anomaly_enabled() -> whether backward checks every gradient for NaN and inf (detect_anomaly).")
doc("lunet.memory_allocated", "memory_allocated() -> bytes of live tensor storage.")
doc("lunet.blas_info", "blas_info() -> {corename, coretype_source, threads, library}: the OpenBLAS kernels in use and who chose them.")
doc("lunet.set_num_threads", "set_num_threads(n): lunet's threads and OpenBLAS's (default: LUNET_NUM_THREADS, else OPENBLAS_NUM_THREADS, else the cores).")
doc("lunet.get_num_threads", "get_num_threads() -> the number of threads lunet's kernels use.")
doc("lunet.save", "save(path, {name = tensor, ...} [, metadata]): write a safetensors file (through a temporary file and a rename).")
doc("lunet.load", "load(path) -> tensors, metadata: read a safetensors file (checked as untrusted input).")
doc("lunet.gradcheck", [[
gradcheck(fn, inputs [, {eps=1e-2, atol=1e-2, rtol=1e-2}]) -> ok, worst_relative_error, where.
Compares the analytic gradient of sum(fn(inputs...) * w), for a random w,
with central finite differences, for every input that requires grad.]])

-- Tensor-only methods
local M = "lunet.Tensor:"
doc(M .. "view", "x:view(shape) -> a view with another shape (same storage; one size may be -1).")
doc(M .. "reshape", "x:reshape(shape) -> x in another shape: a view when possible, else a copy.")
doc(M .. "transpose", "x:transpose(d1, d2) -> a view with dims d1 and d2 swapped.")
doc(M .. "t", "x:t() -> the transpose of a matrix (a view).")
doc(M .. "permute", "x:permute(d1, d2, ...) -> a view with the dims reordered.")
doc(M .. "narrow", "x:narrow(dim, start, len) -> a view of len slices from start along dim.")
doc(M .. "select", "x:select(dim, i) -> a view of slice i along dim, that dim removed.")
doc(M .. "expand", "x:expand(shape) -> a broadcast view (size-1 dims repeated without copying; -1 keeps a size).")
doc(M .. "unsqueeze", "x:unsqueeze(dim) -> a view with a size-1 dim inserted at dim.")
doc(M .. "squeeze", "x:squeeze([dim]) -> a view without size-1 dims (or only dim).")
doc(M .. "flatten", "x:flatten([start=1 [, end=-1]]) -> dims start..end merged into one.")
doc(M .. "split", "x:split(size, dim) -> list of views of size slices along dim (the last may be smaller).")
doc(M .. "chunk", "x:chunk(n, dim) -> list of n views along dim.")
doc(M .. "contiguous", "x:contiguous() -> x if it is contiguous, else a contiguous copy.")
doc(M .. "is_contiguous", "x:is_contiguous() -> whether x's elements are laid out row-major without gaps.")
doc(M .. "clone", "x:clone() -> a copy (recorded by autograd).")
doc(M .. "detach", "x:detach() -> a view of x outside the autograd graph.")
doc(M .. "requires_grad", "x:requires_grad([on]) -> without an argument whether x requires grad; with one, sets it and returns x.")
doc(M .. "backward", "x:backward([grad] [, {retain_graph=false}]) -> accumulate d x / d leaf into each leaf's .grad (grad needed unless x has one element).")
doc(M .. "item", "x:item() -> the value of a one-element tensor (a Lua float, integer or boolean).")
doc(M .. "totable", "x:totable() -> x's values as nested Lua tables.")
doc(M .. "shape", "x:shape() -> a fresh table of the sizes, e.g. {2, 3}.")
doc(M .. "size", "x:size([dim]) -> the size of dim, or the shape.")
doc(M .. "dim", "x:dim() -> the number of dims.")
doc(M .. "numel", "x:numel() -> the number of elements.")
doc(M .. "stride", "x:stride([dim]) -> the strides in elements.")
doc(M .. "get", "x:get{i, j, ...} -> the element at 1-based indices.")
doc(M .. "set", "x:set({i, j, ...}, v): write one element.")
doc(M .. "to", "x:to(dtype) -> x converted ('float32', 'int64', 'int32', 'uint8', 'bool'; float to integer truncates).")
doc(M .. "float", "x:float() -> x as float32.")
doc(M .. "long", "x:long() -> x as int64.")
doc(M .. "int", "x:int() -> x as int32.")
doc(M .. "byte", "x:byte() -> x as uint8.")
doc(M .. "bool", "x:bool() -> x as bool (nonzero is true).")
doc(M .. "is_floating_point", "x:is_floating_point() -> whether x is float32.")
doc(M .. "add_", "x:add_(y) -> x: x + y in place (recorded by autograd as PyTorch does).")
doc(M .. "sub_", "x:sub_(y) -> x: x - y in place.")
doc(M .. "mul_", "x:mul_(y) -> x: x * y in place.")
doc(M .. "div_", "x:div_(y) -> x: x / y in place.")
doc(M .. "clamp_", "x:clamp_(min, max) -> x: clamped in place.")
doc(M .. "zero_", "x:zero_() -> x, zeroed.")
doc(M .. "fill_", "x:fill_(v) -> x, every element v.")
doc(M .. "copy_", "x:copy_(src) -> x with src's values (broadcast, converted to x's dtype).")
doc(M .. "masked_fill_", "x:masked_fill_(mask, v) -> x with v where mask is true, in place.")
doc(M .. "uniform_", "x:uniform_([lo=0, hi=1]) -> x refilled with uniform draws.")
doc(M .. "normal_", "x:normal_([mean=0, std=1]) -> x refilled with normal draws.")

-- ---------------------------------------------------------------- made by factories

doc("lunet.optim.Optimizer:step", "opt:step([closure]) -> loss: one update of every parameter with a gradient (closure, if given, recomputes the loss first).")
doc("lunet.optim.Adam", [[
optim.Adam(params, {lr=1e-3, betas={0.9, 0.999}, eps=1e-8, weight_decay=0}): torch.optim.Adam.
params: a list of tensors, a module's parameters(), or parameter groups
{{params = list, lr = ...}, ...}.  The update loop runs in C.]])
doc("lunet.optim.AdamW", [[
optim.AdamW(params, {lr=1e-3, betas={0.9, 0.999}, eps=1e-8, weight_decay=1e-2}): torch.optim.AdamW.
Adam with decoupled weight decay: p = p * (1 - lr * weight_decay) before
the Adam step.  Use model:param_groups{weight_decay=0.1} to leave norms
and biases undecayed.]])
doc("lunet.optim.Optimizer:zero_grad", "opt:zero_grad(): drop every parameter's .grad (set to nil, as PyTorch's set_to_none).")
doc("lunet.optim.Optimizer:set_lr", "opt:set_lr(lr): the learning rate of every parameter group (as opt.lr = lr).")
doc("lunet.optim.Optimizer:get_lr", "opt:get_lr() -> the first group's learning rate (as opt.lr).")

local TASK = "(data: a lunet.data task; see ?lunet.data.Task for its methods)"
doc("lunet.data.mqar", "data.mqar{vocab_size=128, seq_len=64, num_kv_pairs=8, power_a=0.01, random_non_queries=true, batch_size=32, seed=1}\n" ..
    "Multi-query associative recall (Zoology): key-value pairs, then each key queried again; the\n" ..
    "scored positions are the queries, whose targets are the paired values. " .. TASK)
doc("lunet.data.copy", "data.copy{vocab_size=16, seq_len=32, batch_size=32, seed=1}: copy a random sequence after a separator. " .. TASK)
doc("lunet.data.reverse", "data.reverse{vocab_size=16, seq_len=32, ...}: write a random sequence reversed after a separator. " .. TASK)
doc("lunet.data.sort", "data.sort{vocab_size=16, seq_len=32, ...}: write a random sequence sorted after a separator. " .. TASK)
doc("lunet.data.modadd", "data.modadd{p=97, train_frac=1, ...}: a + b = c (mod p), the answer scored (seq_len 4, vocab_size p+2). " .. TASK)
doc("lunet.data.char_lm", "data.char_lm(path, {seq_len=64, split=0.9, ...}) or char_lm{text=...}: next-character prediction over a text; :encode(s), :decode(ids), .chars. " .. TASK)
doc("lunet.data.tasks", "data.tasks: the names data.make builds, {\"mqar\", \"copy\", \"reverse\", \"sort\", \"modadd\", \"char_lm\"}.")
doc("lunet.data.Task", [[
A toy task, as data.mqar{...} and the others make it: batches are pure
functions of (seed, stream, batch number), so a resumed run sees the data
it would have seen.  Fields: .vocab_size, .seq_len, .batch_size, .seed,
.name, .index (training batches drawn so far).]])
doc("lunet.data.Task:batch", "task:batch() -> inputs, targets, mask: the next training batch, {B,S} tensors (ids, target ids, 1/0 scored).")
doc("lunet.data.Task:train_batch", "task:train_batch(k) -> the k-th training batch, without moving the stream.")
doc("lunet.data.Task:eval_batch", "task:eval_batch([k=1]) -> the k-th fixed held-out batch (a stream of its own).")
doc("lunet.data.Task:reset", "task:reset([n=0]): the next :batch() is batch n + 1 (resume with task:reset(step)).")
doc("lunet.data.Task:shard", "task:shard(rank, world_size) -> task: data parallel; :batch() gives rank's batch_size/world_size rows of each batch (ranks 0-based; evaluation is not split).")

return D
