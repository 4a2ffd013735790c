"""Single-head softmax attention without materialising the N x N map."""
import torch
import torch.nn.functional as F
from torch import Tensor

# Upper bound on the elements of one (queries x keys) block on the CPU path:
# 256 MiB of float32 scores where torch falls back to its math kernel.
CPU_BLOCK_ELEMENTS = 1 << 26


def naive_attention(query: Tensor, key: Tensor, value: Tensor) -> Tensor:
    """``softmax(q k^T / sqrt(d)) v`` with the full attention map (reference).

    Args:
        query (Tensor): (B, Nq, d).
        key (Tensor): (B, Nk, d).
        value (Tensor): (B, Nk, dv).
    """
    scores = query @ key.transpose(-2, -1) * query.shape[-1]**-0.5
    return scores.softmax(dim=-1) @ value


def chunked_attention(query: Tensor, key: Tensor, value: Tensor) -> Tensor:
    """Exact softmax attention with bounded memory.

    Calls ``scaled_dot_product_attention`` on 4-D ``(B, 1, N, d)`` views:
    torch's fused kernels (flash / memory-efficient on CUDA, flash on the
    CPU since torch 2.1) take only 4-D inputs and never store the map, while
    3-D inputs fall back to the math kernel, which does. On the CPU the
    queries are also split into blocks of at most ``CPU_BLOCK_ELEMENTS``
    scores, which bounds memory where the math kernel still runs (e.g. a
    dtype the CPU flash kernel lacks). Each query row sees every key, so the
    result is exact.

    Args:
        query (Tensor): (B, Nq, d).
        key (Tensor): (B, Nk, d).
        value (Tensor): (B, Nk, dv).
    """
    # The fused kernels also need unit stride along d: token views such as
    # ``x.flatten(2).transpose(1, 2)`` are copied once here.
    query, key, value = (t.unsqueeze(1).contiguous()
                         for t in (query, key, value))
    rows = max(1, CPU_BLOCK_ELEMENTS // key.shape[-2])
    if query.is_cuda or rows >= query.shape[-2]:
        return F.scaled_dot_product_attention(query, key, value).squeeze(1)
    return torch.cat([
        F.scaled_dot_product_attention(block, key, value)
        for block in query.split(rows, dim=-2)
    ], dim=-2).squeeze(1)
