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
* **Positional embedding once (CPU).** Hiera resizes its positional embedding bicubically to the
  feature map on every frame; it depends on the image size only, so it is computed once.
* **Only the positional encoding SAM 2 reads.** The neck encodes the positions of every feature
  level (copying a cached 256-channel map, 4 MB at 64x64 for 256 px), but SAM 2 reads the
  lowest-resolution level's only (memory attention); the other levels get an all-zero view.
* **High-resolution projections folded (image encoder).** The neck projects the two finest
  backbone levels to 256 channels with a 1x1 convolution, and the mask decoder immediately
  projects them down to 32 and 64 channels with another: with nothing in between, the two fold
  into one 1x1 convolution straight to 32 and 64 channels.
* **Once for a batch of identical inputs.** Every object starts from the same current-frame
  features: the first memory-attention layer's self-attention and cross-attention queries and the
  memory encoder's projection of the frame's features are computed once and shared by the objects
  of a batch.
* **Batch-major memory attention (CPU).** Memory attention transposes its sequence-first inputs to
  batch first; laying them out batch-major beforehand makes every projection read contiguous
  rows, and the folded cross-attention is a plain softmax attention (PyTorch's fallback for
  values narrower than keys also checks every score for ``-inf``).

The zero rows and identical batches need data-dependent decisions (which rows are zero, whether
rows are equal), which on a GPU cost a device-to-host sync worth more than the arithmetic saved:
they are installed on CPU only, like the batch-major attention, which trades the GPU's fused
attention kernels for a plain one. In bf16 on a CPU (:mod:`sam2_ros.engine.model.cpu_bf16`) the zero
rows step aside: there the products they save cost less than finding the zero rows and attending
window by window. Values are projected after attention for batches of objects only: for one
object PyTorch's fused bf16 attention over the values projected as SAM 2 does is faster (by about
1 ms per frame), for two and four objects slower (by 4 and 6-8 ms).
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import nn


def install_speedups(
    sam: nn.Module, device: torch.device, precision: str = "fp32", exportable: bool = False
) -> None:
    """Install the speed-ups that pay off on ``device`` at ``precision`` on a SAM 2 model already
    on it (bf16 on a CPU: folded weights stored in bf16, as its other weights are).

    ``exportable``: only those a trace records whole (for ONNX export, on a CPU in fp32): no
    data-dependent decisions (zero rows, identical rows), and every rotary attention of memory
    attention in real arithmetic (ONNX has no complex numbers) with the count of keys left
    unrotated (the object pointers) taken from the keys' shape, not baked into the graph."""
    bf16_on_cpu = precision == "bf16" and device.type == "cpu"
    dtype = torch.bfloat16 if bf16_on_cpu else torch.float32
    memory_attention = sam.memory_attention
    _size_rotary_encodings(memory_attention, sam.image_size // sam.backbone_stride, device)
    _encode_read_positions_only(sam.image_encoder.neck, sam.image_size // sam.backbone_stride)
    folded = [
        _fold_value_projection(layer.cross_attn_image, dtype) for layer in memory_attention.layers
    ]
    if sam.use_high_res_features_in_sam:
        decoder, neck = sam.sam_mask_decoder, sam.image_encoder.neck
        _fold_high_res_projection(neck, 0, decoder.conv_s0, dtype)
        _fold_high_res_projection(neck, 1, decoder.conv_s1, dtype)
    if device.type != "cpu":
        return
    if memory_attention.batch_first:
        memory_attention.forward = functools.partial(_batch_major_inputs, memory_attention.forward)
    for layer, values_folded in zip(memory_attention.layers, folded, strict=True):
        rotary = [layer.self_attn, layer.cross_attn_image] if exportable else []
        if values_folded and not exportable:
            rotary.append(layer.cross_attn_image)
        for attention in rotary:
            if hasattr(attention, "freqs_cis"):
                attention.forward = functools.partial(_rope_attention, attention, bf16_on_cpu)
    trunk = sam.image_encoder.trunk
    _cache_pos_embed(trunk, sam.image_size // trunk.patch_embed.proj.stride[0])
    if exportable:
        return
    if not bf16_on_cpu:  # in bf16, finding the zero rows costs more than their products
        _skip_padded_window_tokens(trunk, sam.image_size)
    shared = (
        memory_attention.layers[0].self_attn,
        memory_attention.layers[0].cross_attn_image.q_proj,
        sam.memory_encoder.pix_feat_proj,
    )
    for module in shared:
        module.forward = functools.partial(_once_for_identical_rows, module.forward)


def _skip_padded_window_tokens(trunk: nn.Module, image_size: int) -> None:
    """Make Hiera's windowed attention skip the zero tokens it pads its windows with."""
    for block in _padded_window_blocks(trunk, image_size):
        attention = block.attn
        if attention.q_pool is None:
            attention.forward = functools.partial(_attention_skipping_padding, attention)
        else:
            attention.qkv.forward = functools.partial(_linear_skipping_zero_rows, attention.qkv)


def _cache_pos_embed(trunk: nn.Module, size: int) -> None:
    """Compute Hiera's positional embedding for a ``size`` x ``size`` feature map once."""
    original = trunk._get_pos_embed
    with torch.no_grad():
        cached = original((size, size))

    def pos_embed(hw: tuple[int, int]) -> torch.Tensor:
        return cached if tuple(hw) == (size, size) else original(hw)

    trunk._get_pos_embed = pos_embed


def _encode_read_positions_only(neck: nn.Module, side: int) -> None:
    """Make the neck's positional encoding of feature maps other than ``side`` x ``side`` (the
    level SAM 2 reads) an all-zero view of their shape."""
    encoding = neck.position_encoding
    original = encoding.forward

    def encode(x: torch.Tensor) -> torch.Tensor:
        if tuple(x.shape[-2:]) == (side, side):
            return original(x)
        return x.new_zeros(()).expand(x.shape[0], neck.d_model, *x.shape[-2:])

    encoding.forward = encode


def _size_rotary_encodings(memory_attention: nn.Module, side: int, device: torch.device) -> None:
    """Give memory attention's rotary encodings the size of the feature map now (SAM 2 computes
    them for 1024 px and recomputes them on the first frame at any other size)."""
    for module in memory_attention.modules():
        if hasattr(module, "freqs_cis") and hasattr(module, "compute_cis"):
            module.freqs_cis = module.compute_cis(end_x=side, end_y=side).to(device)
            module.rope_cos_sin = (module.freqs_cis.real, module.freqs_cis.imag)


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
    out = torch.empty(windows, height * width, attention.dim_out, dtype=qkv.dtype, device=x.device)
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
    product = F.linear(rows.index_select(0, indices), linear.weight, linear.bias)
    out = linear.bias.to(product.dtype).expand(rows.shape[0], -1).clone()
    out.index_copy_(0, indices, product)
    return out.view(*x.shape[:-1], -1)


def _fold_value_projection(attention: nn.Module, dtype: torch.dtype) -> bool:
    """Make a single-head attention attend over raw values and project them afterwards (unless
    that is no saving), the folded projection stored in ``dtype``; tell whether it was done."""
    if attention.num_heads != 1 or attention.kv_in_dim >= attention.internal_dim:
        return False
    with torch.no_grad():
        out_proj, v_proj = attention.out_proj, attention.v_proj
        weight = out_proj.weight @ v_proj.weight  # (embedding, kv_in)
        bias = out_proj.weight @ v_proj.bias + out_proj.bias
    v_proj.forward = _identity
    out_proj.forward = functools.partial(F.linear, weight=weight.to(dtype), bias=bias.to(dtype))
    return True


def _fold_high_res_projection(
    neck: nn.Module, level: int, projection: nn.Conv2d, dtype: torch.dtype
) -> None:
    """Fold ``projection`` into the neck's lateral 1x1 convolution of a backbone level whose
    output is nothing but that convolution (no top-down features into it or out of it), the
    folded convolution stored in ``dtype``."""
    lateral = neck.convs[len(neck.convs) - 1 - level].conv
    if level in neck.fpn_top_down_levels or level - 1 in neck.fpn_top_down_levels:
        return
    for conv in (lateral, projection):
        if conv.bias is None or _conv_geometry(conv) != ((1, 1), (1, 1), (0, 0), (1, 1), 1):
            return
    with torch.no_grad():
        outer = projection.weight.flatten(1)
        weight = (outer @ lateral.weight.flatten(1))[:, :, None, None]
        bias = outer @ lateral.bias + projection.bias
    lateral.forward = functools.partial(F.conv2d, weight=weight.to(dtype), bias=bias.to(dtype))
    projection.forward = _identity


def _conv_geometry(conv: nn.Conv2d) -> tuple:
    return conv.kernel_size, conv.stride, conv.padding, conv.dilation, conv.groups


def _batch_major_inputs(forward, curr, memory, curr_pos=None, memory_pos=None, **named):
    """Memory attention on its ``(tokens, batch, channels)`` inputs laid out batch-major, so that
    its transposes to batch first are contiguous."""

    def batch_major(x: torch.Tensor | None) -> torch.Tensor | None:
        return None if x is None else x.transpose(0, 1).contiguous().transpose(0, 1)

    return forward(
        curr=[batch_major(x) for x in curr],
        memory=batch_major(memory),
        curr_pos=None if curr_pos is None else [batch_major(x) for x in curr_pos],
        memory_pos=batch_major(memory_pos),
        **named,
    )


def _rope_attention(
    attention: nn.Module,
    fused_for_one: bool,
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    num_k_exclude_rope: int | torch.Tensor = 0,
) -> torch.Tensor:
    """SAM 2's single-head ``RoPEAttention`` as a plain softmax attention (values folded into
    the output projection where :func:`_fold_value_projection` did so); for one object, where
    ``fused_for_one``, PyTorch's fused attention over the values projected as SAM 2 projects them
    (in bf16 it is faster for one object, slower for several)."""
    cos, sin = attention.rope_cos_sin
    q = _rotated(attention.q_proj(q), cos, sin)
    k = attention.k_proj(k)
    rotated = k.shape[-2] - num_k_exclude_rope
    k = torch.cat([_rotated(k[:, :rotated], cos, sin), k[:, rotated:]], dim=1)
    if fused_for_one and q.shape[0] == 1:
        values = F.linear(v, attention.v_proj.weight, attention.v_proj.bias)
        attended = F.scaled_dot_product_attention(q[:, None], k[:, None], values[:, None])
        return F.linear(attended[:, 0], attention.out_proj.weight, attention.out_proj.bias)
    weights = torch.matmul(q * q.shape[-1] ** -0.5, k.transpose(-1, -2)).softmax(dim=-1)
    return attention.out_proj(torch.matmul(weights, attention.v_proj(v)))


def _rotated(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """``apply_rotary_enc``'s rotation of ``(batch, tokens, channels)`` by the complex factors
    ``cos + i sin`` of ``(period, channels / 2)``, in real arithmetic (in fp32): channel pairs
    are complex numbers, and token ``t`` takes row ``t % period`` (keys of several memory frames
    repeat the frame's factors, without materialising the repeat as ``apply_rotary_enc`` does)."""
    batch, tokens, channels = x.shape
    period = cos.shape[0]
    pairs = x.float().reshape(batch, tokens // period, period, channels // 2, 2)
    real, imag = pairs[..., 0], pairs[..., 1]
    rotated = torch.stack([real * cos - imag * sin, real * sin + imag * cos], dim=-1)
    return rotated.reshape(x.shape).type_as(x)


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
