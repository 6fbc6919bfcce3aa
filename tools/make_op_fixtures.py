#!/usr/bin/python3
"""Reference values for lunet's indexing, ordering, rounding and dtype ops,
and for its learning-rate schedules, from PyTorch.

Run with Debian's interpreter (the one python3-torch is installed for):

    /usr/bin/python3 tools/make_op_fixtures.py [outdir]   # default spec/fixtures

writes ops.safetensors.  Each case <c> stores its inputs as <c>.in.<k>, its
outputs as <c>.out.<k> and, for differentiable cases, the upstream gradient
<c>.gout and the input gradients <c>.grad.<k> (of sum(out * gout)).  Indices
are stored the way lunet takes and returns them: 1-based int64.  dtypes are
PyTorch's own (I64, BOOL, F32), so the spec also checks lunet's promotion.
spec/ops_fixtures_spec.lua runs the same call in lunet for every case; the
tests never need Python.  Deterministic: the same PyTorch gives the same file.
"""

import os
import sys

import torch

from make_fixtures import save_safetensors

OUT = {}


def case(name, fn, inputs, grad=(), index_outputs=()):
    """Run fn(**inputs) (torch form), store inputs, outputs and gradients.

    inputs: {k: tensor}; grad: the keys of float inputs to differentiate;
    index_outputs: output positions holding 0-based indices (stored +1)."""
    leaves = {}
    for k, v in inputs.items():
        v = v.clone()
        if k in grad:
            v.requires_grad_(True)
        leaves[k] = v
        OUT["%s.in.%s" % (name, k)] = v.detach()
    outs = fn(**leaves)
    if not isinstance(outs, tuple):
        outs = (outs,)
    for i, o in enumerate(outs):
        o = o.detach()
        OUT["%s.out.%d" % (name, i + 1)] = o + 1 if i in index_outputs else o
    if grad:
        gout = torch.randn(outs[0].shape)
        OUT["%s.gout" % name] = gout
        (outs[0] * gout).sum().backward()
        for k in grad:
            OUT["%s.grad.%s" % (name, k)] = leaves[k].grad


def schedule(name, lr, steps, make):
    """The lr PyTorch's scheduler `make(optimizer)` gives at steps 1..steps"""
    p = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([p], lr=lr)
    sched = make(opt)
    lrs = []
    for _ in range(steps):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    OUT["%s.out.1" % name] = torch.tensor(lrs, dtype=torch.float32)


def ids(*shape, high):
    """0-based int64 ids in [0, high)"""
    return torch.randint(0, high, shape)


def one_based(t):
    return t + 1


def main():
    torch.manual_seed(16)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    outdir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "spec", "fixtures")
    randn = torch.randn

    # indexing (lunet dims are 1-based: torch dim 1 is lunet dim 2)
    idx = ids(3, 2, high=4)
    case("gather", lambda x, index: x.gather(1, index - 1),
         {"x": randn(3, 4), "index": one_based(idx)}, grad=("x",))
    uniq = torch.stack([torch.randperm(5)[:2] for _ in range(3)])
    case("scatter", lambda x, index, src: x.scatter(1, index - 1, src),
         {"x": randn(3, 5), "index": one_based(uniq), "src": randn(3, 2)}, grad=("x", "src"))
    case("scatter_add", lambda x, index, src: x.scatter_add(0, index - 1, src),
         {"x": randn(3, 4), "index": one_based(ids(2, 4, high=3)), "src": randn(2, 4)},
         grad=("x", "src"))
    case("index_select", lambda x, index: x.index_select(0, index - 1),
         {"x": randn(4, 3), "index": one_based(torch.tensor([3, 0, 3, 1, 2]))}, grad=("x",))
    case("index_add", lambda x, index, src: x.index_add(1, index - 1, src),
         {"x": randn(3, 4), "index": one_based(torch.tensor([1, 3, 1])), "src": randn(3, 3)},
         grad=("x", "src"))
    case("masked_select", lambda x, mask: x.masked_select(mask),
         {"x": randn(3, 4), "mask": torch.tensor([True, False, True, True])}, grad=("x",))
    case("masked_scatter", lambda x, mask, src: x.masked_scatter(mask, src),
         {"x": randn(3, 4), "mask": randn(3, 4) > 0, "src": randn(12)}, grad=("x", "src"))
    case("where_int", lambda c, a, b: torch.where(c, a, b),
         {"c": randn(3, 4) > 0, "a": ids(3, 4, high=9), "b": ids(4, high=9) - 20})

    # ordering and scans
    case("sort", lambda x: x.sort(dim=1, descending=True), {"x": randn(3, 5)}, grad=("x",),
         index_outputs=(1,))
    case("sort_int", lambda x: x.sort(dim=0), {"x": torch.randperm(12).reshape(4, 3) - 6},
         index_outputs=(1,))
    case("topk", lambda x: x.topk(2, dim=0), {"x": randn(4, 3)}, grad=("x",), index_outputs=(1,))
    case("topk_smallest", lambda x: x.topk(3, dim=1, largest=False), {"x": randn(2, 5)},
         grad=("x",), index_outputs=(1,))
    case("argsort", lambda x: x.argsort(dim=1), {"x": randn(3, 4)}, index_outputs=(0,))
    case("argmin", lambda x: x.argmin(dim=1), {"x": randn(3, 4)}, index_outputs=(0,))
    case("cumsum", lambda x: x.cumsum(0), {"x": randn(3, 4)}, grad=("x",))
    zx = randn(3, 4)
    zx[1, 2] = 0
    zx[2, 0] = 0
    zx[2, 3] = 0
    case("cumprod", lambda x: x.cumprod(1), {"x": zx}, grad=("x",))
    case("cumsum_int", lambda x: x.cumsum(1), {"x": ids(2, 5, high=7) - 3})

    # rearrangements
    case("tril", lambda x: x.tril(-1), {"x": randn(2, 3, 4)}, grad=("x",))
    case("triu", lambda x: x.triu(1), {"x": randn(3, 4)}, grad=("x",))
    case("flip", lambda x: x.flip([0, 2]), {"x": randn(2, 3, 4)}, grad=("x",))
    case("roll", lambda x: x.roll([1, -2], [0, 1]), {"x": randn(3, 4)}, grad=("x",))
    case("roll_flat", lambda x: x.roll(3), {"x": randn(3, 4)}, grad=("x",))
    case("repeat", lambda x: x.repeat(2, 1, 3), {"x": randn(2, 3)}, grad=("x",))
    case("tile", lambda x: x.tile((2,)), {"x": randn(2, 3)}, grad=("x",))

    # rounding and the rounding divisions (float, with broadcasting)
    r = torch.tensor([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, -1.7, 1.2, 0.0, 3.49])
    for op in ("floor", "ceil", "round", "trunc", "sign"):
        case(op, getattr(torch, op), {"x": r})
    a, b = randn(3, 4) * 5, randn(4) * 2
    case("fmod", torch.fmod, {"input": a, "other": b}, grad=("input", "other"))
    case("remainder", torch.remainder, {"input": a, "other": b}, grad=("input", "other"))
    case("floor_divide", lambda input, other: torch.div(input, other, rounding_mode="floor"),
         {"input": a, "other": b})

    # integers: exact arithmetic, division rounding, promotion
    ia = torch.tensor([[-7, -3, 0, 3, 7], [9, -9, 5, -5, 1]])
    ib = torch.tensor([2, -2, 3, -3, 4])
    case("int_add", torch.add, {"input": ia, "other": ib})
    case("int_mul", torch.mul, {"input": ia, "other": ib})
    case("int_floor_divide", lambda input, other: torch.div(input, other, rounding_mode="floor"),
         {"input": ia, "other": ib})
    case("int_remainder", torch.remainder, {"input": ia, "other": ib})
    case("int_fmod", torch.fmod, {"input": ia, "other": ib})
    case("int_div", torch.div, {"input": ia, "other": ib})            # true division: float
    case("int_pow", lambda input, other: torch.pow(input, other),
         {"input": ia, "other": torch.tensor([0, 1, 2, 3, 2])})
    case("int_float_add", torch.add, {"input": ia, "other": randn(5)})  # promotes to float
    case("int_lt", torch.lt, {"input": ia, "other": ib})
    case("int_max", lambda x: x.max(1), {"x": ia}, index_outputs=(1,))
    case("int_sum", lambda x: x.sum(0), {"x": ia})
    case("bool_sum", lambda x: x.sum(1), {"x": randn(3, 5) > 0})
    case("bool_and", torch.logical_and, {"input": randn(3, 4) > 0, "other": randn(4) > 0})

    # tests
    t = torch.tensor([1.0, float("nan"), float("inf"), -float("inf"), -2.0])
    for op in ("isnan", "isinf", "isfinite"):
        case(op, getattr(torch, op), {"x": t})
    m = randn(3, 4) > 0.5
    case("any", lambda x: x.any(1), {"x": m})
    case("all", lambda x: x.all(0), {"x": randn(3, 4) > -1})

    # learning-rate schedules: PyTorch's schedulers' lr at steps 1..n
    S = torch.optim.lr_scheduler
    schedule("sched_step_lr", 0.1, 10, lambda o: S.StepLR(o, step_size=3, gamma=0.5))
    schedule("sched_linear", 0.5, 12, lambda o: S.LinearLR(o, start_factor=1, end_factor=0.1,
                                                          total_iters=10))
    schedule("sched_cosine", 1.0, 9, lambda o: S.CosineAnnealingLR(o, T_max=8, eta_min=0.1))
    schedule("sched_warmup", 1.0, 4, lambda o: S.LinearLR(o, start_factor=0.25, total_iters=3))
    schedule("sched_one_cycle", 0.1, 20, lambda o: S.OneCycleLR(o, max_lr=1, total_steps=20,
                                                                cycle_momentum=False))
    schedule("sched_one_cycle_linear", 0.1, 12,
             lambda o: S.OneCycleLR(o, max_lr=2, total_steps=12, pct_start=0.25,
                                    anneal_strategy="linear", div_factor=10,
                                    final_div_factor=100, cycle_momentum=False))

    os.makedirs(outdir, exist_ok=True)
    path = os.path.join(outdir, "ops.safetensors")
    n = save_safetensors(path, OUT, {"format": "pt", "torch": torch.__version__})
    print("wrote %s  %d bytes  %d tensors" % (os.path.relpath(path), n, len(OUT)))


if __name__ == "__main__":
    main()
