"""Exact speed-ups installed on a loaded SAM 2 network: the same function, less arithmetic.

Each one overrides the ``forward`` of a submodule instance (parameters, state dict and the other
modules stay Meta's), and each computes what the original computes, up to float rounding:

* **Zero rows of Hiera's windowed attention (CPU).** Hiera pads feature maps with zeros up to a
  multiple of the window (at 256 px a 16x16 map becomes 28x28 for 14x14 windows) and projects
  every padded token to queries, keys and values. A zero row's projection is exactly the bias, so
  only the non-zero rows go through the matrix product; likewise all zero tokens of a window
  share one query, so only the real tokens and one padded token are attended and projected
  (a third of the work at 256 px).
* **Values projected after attention (memory attention).** Memory tokens have 64 channels but
  keys and values are projected to 256. Attention weights sum to one per query, so
  ``softmax(QK^T)(M W_v^T + b_v) = (softmax(QK^T) M) W_v^T + b_v``: attending over the raw
  64-channel memory and projecting once per query is 4x less work for the weighted sum, and the
  value and output projections fold into one ``64 -> 256`` matrix.
* **Once for a batch of identical inputs.** Every object starts from the same current-frame
  features: the first memory-attention layer's self-attention and the memory encoder's projection
  of the frame's features are computed once and shared by the objects of a batch.

The first and last need data-dependent decisions (which rows are zero, whether rows are equal),
which on a GPU cost a device-to-host sync worth more than the arithmetic saved: they are installed
on CPU only.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import nn


def install_speedups(sam: nn.Module, device: torch.device) -> None:
    """Install the speed-ups that pay off on ``device`` on a SAM 2 model already on it."""
    for layer in sam.memory_attention.layers:
        _fold_value_projection(layer.cross_attn_image)
    if device.type != "cpu":
        return
    for block in _padded_window_blocks(sam.image_encoder.trunk, sam.image_size):
        attention = block.attn
        if attention.q_pool is None:
            attention.forward = functools.partial(_attention_skipping_padding, attention)
        else:
            attention.qkv.forward = functools.partial(_linear_skipping_zero_rows, attention.qkv)
    for module in (sam.memory_attention.layers[0].self_attn, sam.memory_encoder.pix_feat_proj):
        module.forward = functools.partial(_once_for_identical_rows, module.forward)


def _padded_window_blocks(trunk: nn.Module, image_size: int) -> list[nn.Module]:
    """Hiera blocks whose feature map is not a multiple of their window (so gets padded)."""
    size = image_size // trunk.patch_embed.proj.stride[0]
    padded = []
    for block in trunk.blocks:
        if block.window_size > 0 and size % block.window_size:
            padded.append(block)
        if block.q_stride:
            size //= block.q_stride[0]
    return padded


def _attention_skipping_padding(attention: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Hiera's ``MultiScaleAttention`` (without query pooling) on zero-padded windows, computing
    the projections and the attention only for non-zero tokens. All zero tokens of a window have
    the same query, so one of them is attended for all; the others copy its output."""
    windows, height, width, _ = x.shape
    tokens = x.reshape(windows, height * width, -1)
    nonzero = tokens.any(dim=-1)
    qkv = _linear_skipping_zero_rows(attention.qkv, tokens, nonzero)
    q, k, v = qkv.view(windows, height * width, 3, attention.num_heads, -1).permute(2, 0, 3, 1, 4)
    out = torch.empty(windows, height * width, attention.dim_out, dtype=x.dtype, device=x.device)
    full = nonzero.all(dim=1)
    if bool(full.any()):
        attended = F.scaled_dot_product_attention(q[full], k[full], v[full])
        out[full] = attention.proj(attended.transpose(1, 2).flatten(2))
    for window in (~full).nonzero().flatten().tolist():
        rows = nonzero[window].nonzero().flatten()
        zero_rows = (~nonzero[window]).nonzero().flatten()
        queries = torch.cat([rows, zero_rows[:1]])
        attended = F.scaled_dot_product_attention(
            q[window, :, queries], k[window], v[window]
        ).transpose(0, 1)
        projected = attention.proj(attended.flatten(1))
        out[window, rows] = projected[:-1]
        out[window, zero_rows] = projected[-1]
    return out.view(windows, height, width, -1)


def _linear_skipping_zero_rows(
    linear: nn.Linear, x: torch.Tensor, nonzero: torch.Tensor | None = None
) -> torch.Tensor:
    """``linear(x)``, multiplying only the rows of ``x`` that are not all zero (``nonzero``: that
    mask over the rows, when the caller has it already)."""
    rows = x.reshape(-1, x.shape[-1])
    nonzero = rows.any(dim=-1) if nonzero is None else nonzero.reshape(-1)
    indices = nonzero.nonzero().squeeze(1)
    if indices.numel() == rows.shape[0]:
        return F.linear(x, linear.weight, linear.bias)
    out = linear.bias.expand(rows.shape[0], -1).clone()
    out.index_copy_(0, indices, F.linear(rows.index_select(0, indices), linear.weight, linear.bias))
    return out.view(*x.shape[:-1], -1)


def _fold_value_projection(attention: nn.Module) -> None:
    """Make a single-head attention attend over raw values and project them afterwards."""
    if attention.num_heads != 1 or attention.kv_in_dim >= attention.internal_dim:
        return
    with torch.no_grad():
        out_proj, v_proj = attention.out_proj, attention.v_proj
        weight = out_proj.weight @ v_proj.weight  # (embedding, kv_in)
        bias = out_proj.weight @ v_proj.bias + out_proj.bias
    v_proj.forward = _identity
    out_proj.forward = functools.partial(F.linear, weight=weight, bias=bias)


def _identity(x: torch.Tensor) -> torch.Tensor:
    return x


def _once_for_identical_rows(forward, *inputs: torch.Tensor, **named: torch.Tensor):
    """``forward(...)`` on batch row 0 only, broadcast, when all its inputs' batch rows are the
    same."""
    tensors = [*inputs, *named.values()]
    batch = tensors[0].shape[0]
    if batch == 1 or not all(torch.equal(x, x[:1].expand_as(x)) for x in tensors):
        return forward(*inputs, **named)
    out = forward(*(x[:1] for x in inputs), **{key: x[:1] for key, x in named.items()})
    return out.expand(batch, *out.shape[1:])
