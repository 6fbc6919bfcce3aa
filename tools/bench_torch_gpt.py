"""PyTorch side of lunet's training-step benchmark (examples/bench_gpt.lua).

Usage: /usr/bin/python3 tools/bench_torch_gpt.py THREADS STEPS V D L H S B
Prints "step SECONDS" (the best of STEPS timed AdamW training steps, after
two warm-up steps) and "torch VERSION".

The model is lunet's nn.TransformerLM with MHA, written the way people
write it in PyTorch: token and learned position embeddings, pre-norm
blocks (LayerNorm, causal multi-head attention as matmul, masked_fill,
softmax, matmul; LayerNorm, Linear-GELU-Linear MLP), a final LayerNorm and
logits tied to the token embedding; cross-entropy, AdamW.  PyTorch 1.13
has no fused attention on the CPU.  Run with Debian's /usr/bin/python3;
the caller sets OPENBLAS_CORETYPE and the thread counts in the environment
so that both sides run the same OpenBLAS kernels.
"""
import math
import sys
import time

import torch
from torch import nn


class Block(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.ln_1 = nn.LayerNorm(d)
        self.query, self.key, self.value = nn.Linear(d, d), nn.Linear(d, d), nn.Linear(d, d)
        self.out_projection = nn.Linear(d, d)
        self.ln_2 = nn.LayerNorm(d)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

    def attn(self, x):
        B, S, d = x.shape
        H = self.heads

        def split(t):
            return t.view(B, S, H, d // H).transpose(1, 2)
        q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
        scores = torch.matmul(q, k.transpose(-2, -1)) / math.sqrt(d // H)
        future = torch.ones(S, S, dtype=torch.bool).triu(1)
        scores = scores.masked_fill(future, float("-inf"))
        ctx = torch.matmul(torch.softmax(scores, dim=-1), v)
        return self.out_projection(ctx.transpose(1, 2).reshape(B, S, d))

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    def __init__(self, V, d, L, H, S):
        super().__init__()
        self.wte = nn.Embedding(V, d)
        self.wpe = nn.Embedding(S, d)
        self.blocks = nn.ModuleList([Block(d, H) for _ in range(L)])
        self.ln_f = nn.LayerNorm(d)
        with torch.no_grad():    # GPT-2's embedding init, as lunet's TransformerLM
            self.wte.weight.normal_(0, 0.02)
            self.wpe.weight.normal_(0, 0.02)

    def forward(self, ids):
        S = ids.shape[1]
        h = self.wte(ids) + self.wpe(torch.arange(S))
        for b in self.blocks:
            h = b(h)
        return nn.functional.linear(self.ln_f(h), self.wte.weight)


def main():
    threads, steps = int(sys.argv[1]), int(sys.argv[2])
    V, d, L, H, S, B = (int(a) for a in sys.argv[3:9])
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = GPT(V, d, L, H, S)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    ids = torch.randint(0, V, (B, S))

    def step():
        loss = nn.functional.cross_entropy(model(ids).view(B * S, V), ids.view(B * S))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    step()
    step()
    best = float("inf")
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        best = min(best, time.perf_counter() - t0)
    print("step %.9g" % best)
    print("torch", torch.__version__)


if __name__ == "__main__":
    main()
