"""Single-head softmax attention without materialising the N x N map."""
import torch
import torch.nn.functional as F
from torch import Tensor

# Upper bound on the elements of one (queries x keys) block on the CPU path.
CPU_BLOCK_ELEMENTS = 1 << 24


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

    On CUDA, ``scaled_dot_product_attention`` picks a fused kernel (flash or
    memory-efficient) that never stores the map. On the CPU (where torch 2.1
    falls back to the math kernel) the queries are processed in blocks so
    that at most ``CPU_BLOCK_ELEMENTS`` scores exist at once per batch item.
    Each query row still sees every key, so the result is exact.

    Args:
        query (Tensor): (B, Nq, d).
        key (Tensor): (B, Nk, d).
        value (Tensor): (B, Nk, dv).
    """
    if query.is_cuda:
        return F.scaled_dot_product_attention(query, key, value)
    rows = max(1, CPU_BLOCK_ELEMENTS // key.shape[-2])
    if rows >= query.shape[-2]:
        return F.scaled_dot_product_attention(query, key, value)
    return torch.cat([
        F.scaled_dot_product_attention(block, key, value)
        for block in query.split(rows, dim=-2)
    ], dim=-2)
