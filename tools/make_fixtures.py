#!/usr/bin/python3
"""Reference fixtures for lunet's attention modules, from PyTorch.

Run with Debian's interpreter (the one python3-torch is installed for):

    /usr/bin/python3 tools/make_fixtures.py [outdir]     # default spec/fixtures

For each of the seeds' attention modules this script builds an independent
PyTorch implementation written from the seeds' math (seed 002: MHA, MQA,
GQA, MLA with its RotaryEmbedding; seed 000: the gated latent attention,
with lunet's fix), draws random weights, an input and a padding mask, runs
forward and backward against a random upstream gradient, and writes one
safetensors file per module holding

    <parameter name>            every parameter, named as in the seeds
    input                       x {B, S, hidden}
    mask                        {B, S}: 1 keep, 0 masked key (no row all 0)
    grad_output                 the upstream gradient {B, S, hidden}
    expected_output             module(input, mask)
    expected_input_grad         d(sum(out * grad_output)) / d input
    grad.<parameter name>       the same for each parameter

plus __metadata__ {format, module, config}.  Everything stored is float32;
the weights and inputs are drawn in float32 and the expected values are
computed from them in float64, so the fixtures hold the exact answer for
the stored inputs (rounded once) and lunet is compared with the truth, not
with another float32 rounding.  spec/fixtures_spec.lua loads these files;
the tests never need Python.  The script is deterministic: the same
PyTorch gives byte-identical files.

safetensors is written here with struct + json (the Python package is not
in Debian): an 8-byte little-endian header length, a JSON header with keys
sorted and padded with spaces to a multiple of 8 bytes, then the
little-endian float32 data in header order.
"""

import json
import math
import os
import struct
import sys

import torch
import torch.nn as nn

# ---------------------------------------------------------------- safetensors


# torch dtype -> (safetensors dtype, struct code); floats are written as F32
ST_DTYPES = {torch.int64: ("I64", "q"), torch.int32: ("I32", "i"),
             torch.uint8: ("U8", "B"), torch.bool: ("BOOL", "?")}


def save_safetensors(path, tensors, metadata=None):
    """Write {name: tensor} as safetensors (floats as F32; int64, int32,
    uint8 and bool in their own dtypes); returns bytes written."""
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous().cpu()
        dtype, code = ST_DTYPES.get(t.dtype, ("F32", "f"))
        if dtype == "F32":
            t = t.to(torch.float32)
        data = struct.pack("<%d%s" % (t.numel(), code), *t.reshape(-1).tolist())
        header[name] = {"dtype": dtype, "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    if metadata:
        header["__metadata__"] = {k: str(v) for k, v in metadata.items()}
    text = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)
    return 8 + len(text) + offset


def load_safetensors(path):
    """Read an F32 safetensors file: ({name: tensor}, metadata).  Used to
    check that files written by lunet (lunet.save, model:save) load here."""
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__", {})
    base, out = 8 + n, {}
    for name, e in header.items():
        if e["dtype"] != "F32":
            raise ValueError("%s: %s is %s, only F32 is read" % (path, name, e["dtype"]))
        b, end = e["data_offsets"]
        count = math.prod(e["shape"])
        if end - b != 4 * count or base + end > len(raw):
            raise ValueError("%s: bad offsets for %s" % (path, name))
        vals = struct.unpack("<%df" % count, raw[base + b:base + end])
        out[name] = torch.tensor(vals, dtype=torch.float32).reshape(e["shape"])
    return out, meta


# ---------------------------------------------------------------- attention


def split_heads(t, n):
    """{B, S, n*D} -> {B, n, S, D}"""
    B, S, W = t.shape
    return t.reshape(B, S, n, W // n).permute(0, 2, 1, 3)


def merge_heads(t):
    """{B, H, S, D} -> {B, S, H*D}"""
    B, H, S, D = t.shape
    return t.permute(0, 2, 1, 3).reshape(B, S, H * D)


def attend(q, k, v, mask, scale, fill):
    """softmax(q k^T * scale, masked keys := fill) v.

    q {B,H,S,D}; k, v {B,Hk,S,*} with Hk dividing H: query head h reads kv
    head h // (H/Hk), the order the seeds' unsqueeze/expand produces.
    mask {B,S} or None, 0 = masked key."""
    H, Hk = q.shape[1], k.shape[1]
    if Hk != H:
        k = k.repeat_interleave(H // Hk, dim=1)
        v = v.repeat_interleave(H // Hk, dim=1)
    scores = torch.einsum("bhid,bhjd->bhij", q, k) * scale
    if mask is not None:
        scores = scores.masked_fill((mask == 0)[:, None, None, :], fill)
    return torch.einsum("bhij,bhjd->bhid", scores.softmax(-1), v)


class KVSharedAttention(nn.Module):
    """Seed 002's MHA, MQA and GQA in one: kv_heads key/value heads of
    head_dim each, shared among the num_heads query heads.  Names and
    registration order are the seed's: query, key, value, dropout,
    out_projection."""

    def __init__(self, hidden_size, num_heads, kv_heads):
        super().__init__()
        assert hidden_size % num_heads == 0 and num_heads % kv_heads == 0
        self.num_heads, self.kv_heads = num_heads, kv_heads
        self.head_dim = hidden_size // num_heads
        self.query = nn.Linear(hidden_size, hidden_size)
        self.key = nn.Linear(hidden_size, kv_heads * self.head_dim)
        self.value = nn.Linear(hidden_size, kv_heads * self.head_dim)
        self.dropout = nn.Dropout(0.0)
        self.out_projection = nn.Linear(hidden_size, hidden_size)

    def forward(self, x, mask=None):
        q = split_heads(self.query(x), self.num_heads)
        k = split_heads(self.key(x), self.kv_heads)
        v = split_heads(self.value(x), self.kv_heads)
        ctx = attend(q, k, v, mask, 1.0 / math.sqrt(self.head_dim), float("-inf"))
        return self.out_projection(merge_heads(ctx))


def seed_rope(x, base=10000):
    """Seed 002's RotaryEmbedding applied to x {..., S, d}, d even.

    Interleaved pairs (x[2i], x[2i+1]) -> rot = (-x[2i+1], x[2i]), and
    out = x * T1 + rot * T2 with angle[p][i] = p * base^(-2i/d) widened by
    repeating each entry twice -- where, as in the seed, T1 (its "cos"
    cache) is sin(angle) and T2 (its "sin" cache) is cos(angle).  The
    angles are formed in float32 as the seed forms them, then widened to
    x's dtype."""
    S, d = x.shape[-2], x.shape[-1]
    inv_freq = 1.0 / (base ** (torch.arange(0, d, 2, dtype=torch.float32) / d))
    angle = torch.arange(S, dtype=torch.float32)[:, None] * inv_freq[None, :]   # {S, d/2}
    t1 = angle.sin().to(x.dtype).repeat_interleave(2, -1)                    # seed's cos_pos
    t2 = angle.cos().to(x.dtype).repeat_interleave(2, -1)                    # seed's sin_pos
    pairs = x.reshape(*x.shape[:-1], d // 2, 2)
    rot = torch.stack((-pairs[..., 1], pairs[..., 0]), -1).reshape(x.shape)
    return x * t1 + rot * t2


class LatentAttention(nn.Module):
    """Seed 002's MultiHeadLatentAttention: low-rank latents, a decoupled
    RoPE branch (per-head q_r, one shared k_r) and the seed's scale
    1/(sqrt(hidden/heads) + sqrt(rope_head_dim)).  Names and order as the
    seed's (the RoPE and dropout submodules hold no parameters)."""

    def __init__(self, hidden_size, down_dim, up_dim, num_heads, rope_head_dim):
        super().__init__()
        self.num_heads, self.rope_head_dim = num_heads, rope_head_dim
        self.head_dim = hidden_size // num_heads
        self.down_proj_kv = nn.Linear(hidden_size, down_dim)
        self.down_proj_q = nn.Linear(hidden_size, down_dim)
        self.up_proj_k = nn.Linear(down_dim, up_dim)
        self.up_proj_v = nn.Linear(down_dim, up_dim)
        self.up_proj_q = nn.Linear(down_dim, up_dim)
        self.proj_qr = nn.Linear(down_dim, rope_head_dim * num_heads)
        self.proj_kr = nn.Linear(hidden_size, rope_head_dim)
        self.fc = nn.Linear(up_dim, hidden_size)

    def forward(self, h, mask=None):
        H = self.num_heads
        c_kv, c_q = self.down_proj_kv(h), self.down_proj_q(h)
        q_r = seed_rope(split_heads(self.proj_qr(c_q), H))            # {B,H,S,R}
        k_r = seed_rope(split_heads(self.proj_kr(h), 1))              # {B,1,S,R}
        q = torch.cat((split_heads(self.up_proj_q(c_q), H), q_r), -1)
        k = torch.cat((split_heads(self.up_proj_k(c_kv), H), k_r.expand(-1, H, -1, -1)), -1)
        v = split_heads(self.up_proj_v(c_kv), H)
        scale = 1.0 / (math.sqrt(self.head_dim) + math.sqrt(self.rope_head_dim))
        ctx = attend(q, k, v, mask, scale, float("-inf"))
        return self.fc(merge_heads(ctx))


class GatedAttention(nn.Module):
    """Seed 000's gated latent attention, as lunet fixes it.

    keys and values are low rank per head (U then V), queries full rank;
    scores = q k^T / sqrt(head_dim) + latent_bias[h], masked keys filled
    with -1e9 (the seed's value); the gate is a softmax over heads of
    gate(x).  The fix: each head's output is multiplied by its gate and the
    heads are concatenated back to d_model (the seed summed over heads,
    leaving head_dim, which its reshape rejected) before out_proj."""

    def __init__(self, d_model, num_heads, latent_rank):
        super().__init__()
        self.num_heads, self.latent_rank = num_heads, latent_rank
        self.head_dim = d_model // num_heads
        self.U_k = nn.Linear(d_model, latent_rank * num_heads, bias=False)
        self.V_k = nn.Linear(latent_rank, self.head_dim, bias=False)
        self.U_v = nn.Linear(d_model, latent_rank * num_heads, bias=False)
        self.V_v = nn.Linear(latent_rank, self.head_dim, bias=False)
        self.W_q = nn.Linear(d_model, d_model, bias=False)
        self.gate = nn.Linear(d_model, num_heads)
        self.latent_bias = nn.Parameter(torch.zeros(num_heads, 1, 1))
        self.out_proj = nn.Linear(d_model, d_model)

    def low_rank(self, x, U, V):
        """x -> {B, H, S, head_dim} through the per-head latent"""
        lat = split_heads(U(x), self.num_heads)       # {B,H,S,r}
        return V(lat)

    def forward(self, x, mask=None):
        H = self.num_heads
        q = split_heads(self.W_q(x), H)
        k = self.low_rank(x, self.U_k, self.V_k)
        v = self.low_rank(x, self.U_v, self.V_v)
        scores = torch.einsum("bhid,bhjd->bhij", q, k) / math.sqrt(self.head_dim)
        scores = scores + self.latent_bias[None]
        if mask is not None:
            scores = scores.masked_fill((mask == 0)[:, None, None, :], -1e9)
        ctx = torch.einsum("bhij,bhjd->bhid", scores.softmax(-1), v)      # {B,H,S,D}
        g = self.gate(x).softmax(-1).permute(0, 2, 1)[..., None]         # {B,H,S,1}
        return self.out_proj(merge_heads(ctx * g))


# ---------------------------------------------------------------- fixtures

B, S = 2, 5
HIDDEN, HEADS = 32, 4

# the padding mask: batch 1 pads its tail, batch 2 has holes; no row is
# all zero (every query keeps at least one key)
MASK = torch.tensor([[1, 1, 1, 0, 0],
                     [1, 0, 1, 1, 0]], dtype=torch.float32)

FIXTURES = [
    # file, lunet class, config (as lunet's options), constructor
    ("mha", "MultiHeadAttention", dict(hidden_size=HIDDEN, num_heads=HEADS),
     lambda c: KVSharedAttention(c["hidden_size"], c["num_heads"], c["num_heads"])),
    ("mqa", "MultiQueryAttention", dict(hidden_size=HIDDEN, num_heads=HEADS),
     lambda c: KVSharedAttention(c["hidden_size"], c["num_heads"], 1)),
    ("gqa", "GroupedQueryAttention", dict(hidden_size=HIDDEN, num_heads=HEADS, group_size=2),
     lambda c: KVSharedAttention(c["hidden_size"], c["num_heads"],
                                 c["num_heads"] // c["group_size"])),
    ("mla", "MultiHeadLatentAttention",
     dict(hidden_size=HIDDEN, down_dim=8, up_dim=16, num_heads=HEADS, rope_head_dim=6),
     lambda c: LatentAttention(c["hidden_size"], c["down_dim"], c["up_dim"],
                               c["num_heads"], c["rope_head_dim"])),
    ("gated", "GatedLatentAttention", dict(d_model=HIDDEN, num_heads=HEADS, latent_rank=8),
     lambda c: GatedAttention(c["d_model"], c["num_heads"], c["latent_rank"])),
]


def make_fixture(index, name, cls, config, build):
    torch.manual_seed(1000 + index)
    module = build(config)                       # PyTorch's default init, float32
    with torch.no_grad():                        # exercise what defaults leave at zero
        for pname, p in module.named_parameters():
            if pname == "latent_bias":
                p.copy_(0.5 * torch.randn_like(p))
    x = torch.randn(B, S, HIDDEN)
    gout = torch.randn(B, S, HIDDEN)

    # float32 inputs, evaluated in float64: the exact answer for them
    module = module.double()
    x64 = x.double().requires_grad_(True)
    out = module(x64, MASK.double())
    out.backward(gout.double())

    tensors = {"input": x, "mask": MASK, "grad_output": gout,
               "expected_output": out.detach(), "expected_input_grad": x64.grad}
    for pname, p in module.named_parameters():
        tensors[pname] = p.detach()
        tensors["grad." + pname] = p.grad
    cfg = ",".join("%s=%s" % kv for kv in config.items())
    meta = {"format": "pt", "module": cls, "config": cfg,
            "batch": B, "seq": S, "generator": "tools/make_fixtures.py"}

    # how far a float32 PyTorch run is from the float64 truth: the noise
    # floor any float32 implementation (lunet included) should sit near
    m32 = build(config).float()
    m32.load_state_dict({k: v.float() for k, v in module.state_dict().items()})
    x32 = x.clone().requires_grad_(True)
    o32 = m32(x32, MASK)
    o32.backward(gout)
    err = max(rel_err(o32, out), rel_err(x32.grad, x64.grad),
              max(rel_err(p.grad, dict(module.named_parameters())[n].grad)
                  for n, p in m32.named_parameters()))
    return tensors, meta, err


def rel_err(a, e):
    """max |a-e| / max(1, |e|), the specs' measure"""
    a, e = a.detach().double(), e.detach().double()
    return ((a - e).abs() / e.abs().clamp(min=1.0)).max().item()


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    outdir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "spec", "fixtures")
    os.makedirs(outdir, exist_ok=True)
    torch.set_num_threads(1)
    total = 0
    for i, (name, cls, config, build) in enumerate(FIXTURES):
        tensors, meta, err = make_fixture(i, name, cls, config, build)
        path = os.path.join(outdir, name + ".safetensors")
        size = save_safetensors(path, tensors, meta)
        total += size
        nparams = sum(v.numel() for k, v in tensors.items()
                      if not k.startswith("grad") and not k.startswith("expected")
                      and k not in ("input", "mask"))
        print("wrote %-28s %6d bytes  %-24s %s  (%d params; float32 torch vs float64: %.2g)"
              % (os.path.relpath(path, root), size, cls, meta["config"], nparams, err))
    print("total %d bytes" % total)


if __name__ == "__main__":
    main()
