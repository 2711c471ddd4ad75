"""Which float precision the engine computes in, and how it runs SAM 2 in bf16.

``auto`` picks bf16 where bf16 matrix products are native: on CUDA (as Meta runs SAM 2) and on
CPUs whose ``/proc/cpuinfo`` lists ``avx512_bf16`` or ``amx_bf16`` (x86) or ``bf16`` (Arm);
elsewhere fp32, since emulated bf16 products are slower than fp32 ones.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

PRECISIONS = ("auto", "fp32", "bf16")

#: ``/proc/cpuinfo`` flags of native bf16 matrix instructions: x86 AVX-512 BF16 and AMX, Arm BF16.
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16", "bf16")

CPUINFO = Path("/proc/cpuinfo")

#: Layers whose products autocast runs in bf16 (it casts their weights and biases to bf16).
MATMUL_LAYERS = (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)


def cpu_bf16_flags(cpuinfo: str) -> list[str]:
    """The native bf16 matrix-instruction flags a ``/proc/cpuinfo`` text lists (its ``flags``
    lines on x86, ``Features`` on Arm), in :data:`BF16_CPU_FLAGS` order."""
    listed: set[str] = set()
    for line in cpuinfo.splitlines():
        name, _, values = line.partition(":")
        if name.strip().lower() in ("flags", "features"):
            listed.update(values.split())
    return [flag for flag in BF16_CPU_FLAGS if flag in listed]


def read_cpuinfo() -> str:
    """This machine's ``/proc/cpuinfo`` ("" where there is none)."""
    try:
        return CPUINFO.read_text()
    except OSError:
        return ""


def choose_precision(
    requested: str, device: torch.device, cpuinfo: str | None = None
) -> tuple[str, str]:
    """The precision in effect (``"bf16"`` or ``"fp32"``) for ``requested`` (one of
    :data:`PRECISIONS`) on ``device``, and a one-line reason. ``cpuinfo`` is the text of
    ``/proc/cpuinfo`` (read from this machine when None)."""
    if requested == "fp32":
        return "fp32", "fp32: requested"
    if device.type == "cuda":
        return "bf16", "bf16: CUDA" if requested == "auto" else "bf16: requested"
    flags = cpu_bf16_flags(read_cpuinfo() if cpuinfo is None else cpuinfo)
    missing = (
        "CPU has no native bf16 matrix instructions "
        f"({'/'.join(BF16_CPU_FLAGS)} not in /proc/cpuinfo)"
    )
    if requested == "bf16":
        return "bf16", "bf16: requested" + ("" if flags else f" although the {missing}: slow")
    if flags:
        return "bf16", f"bf16: CPU has {', '.join(flags)}"
    return "fp32", f"fp32: {missing}"


def prepare_bf16_on_cpu(sam: nn.Module) -> None:
    """Set SAM 2 up to run under bf16 autocast on a CPU: the weights of every linear and
    convolution layer stored in bf16 (autocast would cast them on every call) and linear layers
    multiplying with prepacked weights (:func:`_packed_linear`), except in the modules kept in
    fp32 (:func:`fp32_modules`), which run with autocast off. Layers whose ``forward`` a speed-up
    replaced keep it."""
    kept = fp32_modules(sam)
    for module in kept:
        module.forward = functools.partial(_in_fp32, module.forward)
    encoding = sam.sam_prompt_encoder.pe_layer
    encoding._pe_encoding = functools.partial(_in_fp32, encoding._pe_encoding)
    in_fp32 = {id(layer) for module in kept for layer in module.modules()}
    for layer in sam.modules():
        if not isinstance(layer, MATMUL_LAYERS) or id(layer) in in_fp32:
            continue
        layer.to(torch.bfloat16)
        if isinstance(layer, nn.Linear) and "forward" not in vars(layer):
            packed = _packed_weight(layer.weight.detach())
            if packed is not None:
                layer.forward = functools.partial(_packed_linear, layer, packed)


def _packed_weight(weight: torch.Tensor) -> torch.Tensor | None:
    """``weight`` reordered into oneDNN's blocked layout for bf16 products (None where this
    PyTorch build has no oneDNN linear)."""
    try:
        return torch.ops.mkldnn._reorder_linear_weight(weight, None)
    except (AttributeError, RuntimeError):
        return None


def _packed_linear(layer: nn.Linear, packed: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``layer(x)`` in bf16 as one oneDNN product with the weight prepacked and the bias added in
    it (``F.linear`` under autocast reorders the weight on every call and adds the bias in a
    pass of its own); plain ``F.linear`` where ``torch.compile`` traces it (inductor multiplies
    its own way)."""
    if torch.compiler.is_compiling():
        return F.linear(x, layer.weight, layer.bias)
    return torch.ops.mkldnn._linear_pointwise(
        x.to(torch.bfloat16), packed, layer.bias, "none", [], ""
    )


def fp32_modules(sam: nn.Module) -> list[nn.Module]:
    """The modules that multiply a few rows only: the mask decoder's token side (its output and
    prompt tokens, about 8 per object) and the heads that turn tokens into masks, scores and
    object pointers. A bf16 product of so few rows is slower than an fp32 one."""
    decoder = sam.sam_mask_decoder
    transformer = decoder.transformer
    modules = []
    for block in transformer.layers:
        modules += [
            block.self_attn,
            block.cross_attn_token_to_image.q_proj,
            block.cross_attn_token_to_image.out_proj,
            block.mlp,
            block.cross_attn_image_to_token.k_proj,
            block.cross_attn_image_to_token.v_proj,
        ]
    final = transformer.final_attn_token_to_image
    modules += [final.q_proj, final.out_proj, *decoder.output_hypernetworks_mlps]
    modules += [decoder.iou_prediction_head, sam.obj_ptr_proj, sam.obj_ptr_tpos_proj]
    if decoder.pred_obj_scores:
        modules.append(decoder.pred_obj_score_head)
    return modules


def _in_fp32(forward: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``forward`` with autocast off and its bf16 tensor arguments in fp32."""

    def fp32(x: Any) -> Any:
        return x.float() if isinstance(x, torch.Tensor) and x.dtype == torch.bfloat16 else x

    with torch.autocast("cpu", enabled=False):
        return forward(*map(fp32, args), **{name: fp32(x) for name, x in kwargs.items()})
