-- A short tour of lunet's core: tensors, views, broadcasting, autograd.
-- Run it with `make demo`, or `build/bin/lunet examples/tour.lua`.
local lunet = require "lunet"
local cli = require "lunet.cli"
cli.parse(cli.parser("tour.lua", "A short tour of lunet's core: tensors, views, broadcasting, autograd."))
lunet.manual_seed(42)

print("-- tensors print like PyTorch's")
local x = lunet.tensor{{1, 2, 3}, {4, 5, 6}}
print(x)
print("shape", table.concat(x:shape(), "x"), "numel", x:numel(), "x[{2,3}] =", x[{2, 3}])

print("\n-- views share storage: transpose, narrow, view")
print(x:t())
print(x:narrow(2, 2, 2))
print(x:view{3, 2})

print("\n-- broadcasting: {2,3} + {3} and a number on either side")
print(x + lunet.tensor{10, 20, 30})
print(1 - x / 2)

print("\n-- matmul goes through OpenBLAS")
local w = lunet.randn{3, 4}
print(x:matmul(w))
local info = lunet.blas_info()
print(string.format("OpenBLAS kernels: %s (chosen by %s), %d threads",
                    info.corename, info.coretype_source, info.threads))

print("\n-- any value prints through lunet.inspect, as the REPL shows results")
print(lunet.inspect { shape = x:shape(), dtype = x.dtype, weight = w, blas = lunet.blas_info() })

print("\n-- autograd: y = sum(tanh(x W) ^ 2), dy/dW")
local W = lunet.randn({3, 4}, {requires_grad = true})
local y = (x:matmul(W):tanh() ^ 2):sum()
print(y)
y:backward()
print(W.grad)

print("\n-- gradcheck compares that with finite differences")
local ok, err = lunet.gradcheck(function(W) return (x:matmul(W):tanh() ^ 2):sum() end, {W})
print("gradcheck ok:", ok, string.format("worst relative error %.2g", err))

print("\n-- no_grad records nothing")
local z = lunet.no_grad(function() return W * 2 end)
print("z.grad_fn =", z.grad_fn, " (W * 2).grad_fn =", (W * 2).grad_fn)
