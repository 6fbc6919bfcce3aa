"""PyTorch side of lunet's attention-module benchmark (examples/bench_modules.lua).

Usage: /usr/bin/python3 tools/bench_torch_modules.py THREADS CASE...
  CASE is VARIANT:B:S (VARIANT one of mha mqa gqa mla gated), at hidden 256,
  8 heads, GQA group 2, MLA 64/128/26, gated rank 32, with the last half of
  each sequence masked as in the seeds.
Prints "CASE FWD_BWD_SECONDS PEAK_KB" per case, PEAK_KB the rise of the
process's peak resident size during the case (meaningful for a case that
needs more memory than all before it), then "torch VERSION".

The modules are the independent PyTorch implementations of the seeds' math
in tools/make_fixtures.py.  Run with Debian's /usr/bin/python3; the caller
gives both sides the same OPENBLAS_CORETYPE and thread count.
"""
import os
import resource
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_fixtures  # noqa: E402
from make_fixtures import KVSharedAttention, LatentAttention, GatedAttention  # noqa: E402
from bench_torch import per_call as per_call_short  # noqa: E402


def per_call(fn):
    """The matmul bench's rule (best of 3 rounds of >= 0.1 s after a
    warm-up), except that a call of over a second is timed once, warm-up
    and all (as examples/bench_modules.lua does)."""
    t0 = time.perf_counter()
    fn()
    first = time.perf_counter() - t0
    if first > 1:
        return first
    return per_call_short(fn)

HIDDEN, HEADS = 256, 8


def attend_as_seeds(q, k, v, mask, scale, fill):
    """The seeds' own formulation (matmul, masked_fill, softmax, matmul,
    with k/v expanded over heads), so PyTorch is timed on the code people
    actually write rather than the fixtures' einsum."""
    H, Hk = q.shape[1], k.shape[1]
    if Hk != H:
        B, _, S, D = k.shape
        k = k.unsqueeze(2).expand(-1, -1, H // Hk, -1, -1).reshape(B, H, S, D)
        v = v.unsqueeze(2).expand(-1, -1, H // Hk, -1, -1).reshape(B, H, S, v.shape[-1])
    scores = torch.matmul(q, k.transpose(-2, -1)) * scale
    if mask is not None:
        scores = scores.masked_fill(mask[:, None, None, :] == 0, fill)
    return torch.matmul(torch.softmax(scores, dim=-1), v)


make_fixtures.attend = attend_as_seeds


def build(variant):
    if variant == "mha":
        return KVSharedAttention(HIDDEN, HEADS, HEADS)
    if variant == "mqa":
        return KVSharedAttention(HIDDEN, HEADS, 1)
    if variant == "gqa":
        return KVSharedAttention(HIDDEN, HEADS, HEADS // 2)
    if variant == "mla":
        return LatentAttention(HIDDEN, 64, 128, HEADS, 26)
    if variant == "gated":
        return GatedAttention(HIDDEN, HEADS, 32)
    raise ValueError(variant)


def bench(case):
    variant, B, S = case.split(":")
    B, S = int(B), int(S)
    m = build(variant)
    x = torch.randn(B, S, HIDDEN)
    mask = torch.ones(B, S)
    mask[:, S // 2:] = 0
    xg = x.clone().requires_grad_(True)
    g = torch.randn(B, S, HIDDEN)

    def step():
        m.zero_grad(set_to_none=True)
        xg.grad = None
        m(xg, mask).backward(g)
    peak0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t = per_call(step)
    return t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak0


def main():
    torch.set_num_threads(int(sys.argv[1]))
    torch.manual_seed(0)
    bench(sys.argv[2].split(":")[0] + ":1:16")   # warm-up, thrown away
    for case in sys.argv[2:]:
        fb, peak = bench(case)
        print(case, "%.9g %d" % (fb, peak), flush=True)
    print("torch", torch.__version__)


if __name__ == "__main__":
    main()
