"""SAM 2 in bf16 on a CPU: what runs in bf16, what stays in fp32, and how the products are made.

The engine runs SAM 2 under bf16 autocast, as Meta's predictor does on CUDA: matrix products and
convolutions in bf16; softmax, normalisation and the residual streams as SAM 2's code has them
(fp32 wherever it adds an fp32 tensor). On top of that, chosen by timing each component alone
and whole frames interleaved (2 cores with AMX, hiera-tiny at 256 px):

* **Weights stored in bf16, linear layers prepacked.** Autocast casts every fp32 weight to bf16
  on every call, and ``F.linear`` in bf16 reorders the weight for oneDNN and adds the bias in a
  pass of its own. Linear layers multiply with their weight reordered once, the bias and a
  following ReLU or GELU applied inside the product (oneDNN's ``_linear_pointwise``, the op
  inductor emits for linear layers on CPUs).
* **The prompt encoder and the mask decoder in fp32** (:func:`fp32_modules`): bf16 would round
  the prompt encoder's random-Fourier phases (up to about 20 rad) to 1/8 rad before the sine.
  The mask decoder's precision made no difference to the frame time (all fp32, all bf16, or
  its transformer alone in bf16: within 1 ms at 1 and 4 objects, sides rotated frame by frame),
  and in fp32 our mask logits stay closer to Meta's fp32 ones (on 20 bedroom frames at most
  0.70x as far as Meta's bf16 logits are, against 1.42x with the decoder in bf16).
* The image encoder, memory attention and memory encoder in bf16.

The speed-ups that step aside in bf16 on a CPU are in :mod:`sam2_ros.engine.model.speedups`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from sam2.modeling.memory_attention import MemoryAttentionLayer
from sam2.modeling.memory_encoder import CXBlock
from sam2.modeling.sam2_utils import MLP
from torch import nn
from torch.utils._pytree import tree_map_only

#: Layers whose products autocast runs in bf16 (it casts their weights and biases to bf16).
MATMUL_LAYERS = (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)


class Activation(NamedTuple):
    """An activation applied inside a oneDNN product, and the same one applied after it."""

    name: str  # oneDNN's post-op
    algorithm: str
    function: Callable[[torch.Tensor], torch.Tensor]


NO_ACTIVATION = Activation("none", "", nn.Identity())


def prepare_bf16_on_cpu(sam: nn.Module) -> None:
    """Set SAM 2 up to run under bf16 autocast on a CPU: the weights of every linear and
    convolution layer in bf16 and linear layers multiplying prepacked weights with the
    activation that follows them fused, except in :func:`fp32_modules`, which run with autocast
    off. Layers whose ``forward`` a speed-up replaced keep it."""
    kept = fp32_modules(sam)
    for module in kept:
        module.forward = functools.partial(_in_fp32, module.forward)
    prompts = sam.sam_prompt_encoder  # SAM 2 also asks it for the image's encoding directly
    prompts.get_dense_pe = functools.partial(_in_fp32, prompts.get_dense_pe)
    in_fp32 = {id(layer) for module in kept for layer in module.modules()}
    packed = {}
    for layer in sam.modules():
        if isinstance(layer, MATMUL_LAYERS) and id(layer) not in in_fp32:
            layer.to(torch.bfloat16)
            if isinstance(layer, nn.Linear) and "forward" not in vars(layer):
                packed[id(layer)] = _packed_weight(layer.weight.detach())
    fused = _fuse_activations(sam, {i for i, weight in packed.items() if weight is not None})
    for layer in sam.modules():
        if packed.get(id(layer)) is not None:
            activation = fused.get(id(layer), NO_ACTIVATION)
            layer.forward = functools.partial(_packed_linear, layer, packed[id(layer)], activation)


def fp32_modules(sam: nn.Module) -> list[nn.Module]:
    """The modules that run in fp32: the prompt encoder, whose random-Fourier encodings of
    points and of the image grid take the sine of phases up to about 20 rad (bf16 would round
    them to 1/8 rad first), and the mask decoder with the object-pointer heads, whose products
    are small enough that bf16 saves nothing there."""
    return [sam.sam_prompt_encoder, sam.sam_mask_decoder, sam.obj_ptr_proj, sam.obj_ptr_tpos_proj]


def _fuse_activations(sam: nn.Module, packed: set[int]) -> dict[int, Activation]:
    """Move the ReLU or GELU that follows packed linear layers into their products (the
    activation module or function of their block becomes the identity); the fused activation
    of each such layer, by ``id``."""
    fused = {}
    for module in sam.modules():
        if isinstance(module, MLP) and not module.sigmoid_output:
            layers, attribute = list(module.layers)[:-1], "act"
        elif isinstance(module, CXBlock):
            layers, attribute = [module.pwconv1], "act"
        elif isinstance(module, MemoryAttentionLayer):
            layers, attribute = [module.linear1], "activation"
        else:
            continue
        activation = _onednn_activation(getattr(module, attribute))
        if activation is None or not all(id(layer) in packed for layer in layers):
            continue
        fused.update((id(layer), activation) for layer in layers)
        setattr(module, attribute, nn.Identity())
    return fused


def _onednn_activation(function: Callable) -> Activation | None:
    """oneDNN's post-op for an activation module or function (None: not one it applies)."""
    if isinstance(function, nn.ReLU) or function is F.relu:
        return Activation("relu", "", F.relu)
    if function is F.gelu:
        return Activation("gelu", "none", F.gelu)
    if isinstance(function, nn.GELU):
        return Activation("gelu", function.approximate, function)
    return None


def _packed_weight(weight: torch.Tensor) -> torch.Tensor | None:
    """``weight`` reordered into oneDNN's blocked layout for bf16 products (None where this
    PyTorch build or CPU cannot multiply that way)."""
    try:
        packed = torch.ops.mkldnn._reorder_linear_weight(weight, None)
        probe = weight.new_zeros(1, weight.shape[1])
        torch.ops.mkldnn._linear_pointwise(probe, packed, None, "none", [], "")
    except (AttributeError, RuntimeError):
        return None
    return packed


def _packed_linear(
    layer: nn.Linear, packed: torch.Tensor, activation: Activation, x: torch.Tensor
) -> torch.Tensor:
    """``activation(layer(x))`` in bf16 as one oneDNN product, its weight prepacked and its bias
    and activation applied inside it; plain ``F.linear`` where ``torch.compile`` traces it
    (inductor multiplies its own way)."""
    if torch.compiler.is_compiling():
        return activation.function(F.linear(x, layer.weight, layer.bias))
    return torch.ops.mkldnn._linear_pointwise(
        x.to(torch.bfloat16), packed, layer.bias, activation.name, [], activation.algorithm
    )


def _in_fp32(forward: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``forward`` with autocast off and its bf16 tensor arguments (also in lists) in fp32."""

    def fp32(x: torch.Tensor) -> torch.Tensor:
        return x.float() if x.dtype == torch.bfloat16 else x

    args, kwargs = tree_map_only(torch.Tensor, fp32, (args, kwargs))
    with torch.autocast("cpu", enabled=False):
        return forward(*args, **kwargs)
