"""PyTorch side of lunet's matmul benchmark (examples/bench.lua runs it).

Usage: /usr/bin/python3 tools/bench_torch.py THREADS CASE...
  CASE is  [fb:]AxB@CxD[...]  e.g. 20x256@256x256 or fb:16x128x32@16x32x128;
  "fb:" times forward + backward of the product instead of the forward;
  an operand ending in "T" is made with that shape, then transposed in its
  last two dims (a view): 16x128x32@16x128x32T is q @ k^T.
Prints one line per case: "CASE SECONDS_PER_CALL", then "torch VERSION".

Call it with Debian's own interpreter (/usr/bin/python3), which is the one
python3-torch is installed for.  Debian's torch runs the same OpenBLAS as
lunet, so the caller sets OPENBLAS_CORETYPE / OPENBLAS_NUM_THREADS in the
environment to give both the same kernels and threads.  The timing method
mirrors bench.lua: warm up, then best of 3 rounds of >= 0.1 s each.
"""
import sys
import time

import torch


def parse(case):
    fb = case.startswith("fb:")
    spec = case[3:] if fb else case
    a, b = spec.split("@")
    return fb, operand(a), operand(b)


def operand(s):
    """(dims, transposed) from 2x3 or 2x3T"""
    t = s.endswith("T")
    return [int(d) for d in s.rstrip("T").split("x")], t


def make(shape, transposed):
    x = torch.randn(*shape)
    return x.transpose(-1, -2) if transposed else x


def per_call(fn, target=0.1, rounds=3):
    fn()
    best = float("inf")
    for _ in range(rounds):
        reps, t0 = 0, time.perf_counter()
        while True:
            fn()
            reps += 1
            el = time.perf_counter() - t0
            if el >= target:
                break
        best = min(best, el / reps)
    return best


def bench(case):
    fb, sa, sb = parse(case)
    a = make(*sa)
    b = make(*sb)
    if not fb:
        return per_call(lambda: torch.matmul(a, b))
    a = a.detach().requires_grad_(True)
    b = b.detach().requires_grad_(True)
    g = torch.randn(torch.matmul(a, b).shape)

    def step():
        a.grad = None
        b.grad = None
        torch.matmul(a, b).backward(g)
    return per_call(step)


def main():
    threads = int(sys.argv[1])
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    for case in sys.argv[2:]:
        print(case, "%.9g" % bench(case), flush=True)
    print("torch", torch.__version__)


if __name__ == "__main__":
    main()
