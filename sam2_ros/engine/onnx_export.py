"""Exporting SAM 2's per-frame components to ONNX (see :mod:`sam2_ros.engine.onnx_graphs`).

The model is built as the engine builds it, with only the speed-ups a trace records whole
(:func:`~sam2_ros.engine.speedups.install_speedups` ``exportable``), on the CPU in fp32; each
component is traced on example inputs of two objects (so no axis of one is taken for a constant)
and checked with ``onnx.checker``. Lower precisions are the runtime's business (TensorRT builds
fp16 engines from fp32 graphs).
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import warnings
from pathlib import Path

import torch
from torch import nn

from sam2_ros.engine.checkpoint import file_sha256
from sam2_ros.engine.model import DEFAULT_MODEL_CFG, ModelConfigError, Sam2Model, load_model
from sam2_ros.engine.onnx_graphs import (
    OPSET,
    ExportManifest,
    GraphSpec,
    ImageEncoderGraph,
    MaskDecoderGraph,
    MemoryAttentionGraph,
    MemoryEncoderGraph,
)

LOG = logging.getLogger("sam2_ros.engine")

#: Precisions an export can be made in (graphs are fp32; see the module docstring).
EXPORT_PRECISIONS = ("auto", "fp32")
_OBJECTS = 2  # example batch: not 1, which a trace could specialise on
_MEMORY_FRAMES = 3
_POINTER_TOKENS = 8
_PROMPT_TOKENS = 3


def export_onnx(
    output_dir: str | Path,
    model_cfg: str = DEFAULT_MODEL_CFG,
    checkpoint: str | Path | None = None,
    image_size: int | None = None,
    allow_random_weights: bool = False,
    seed: int = 0,
    precision: str = "auto",
) -> ExportManifest:
    """Write the four graphs and ``export.json`` into ``output_dir`` (made, or replaced as a
    whole: graphs are written to a temporary folder beside it first); the manifest."""
    if precision not in EXPORT_PRECISIONS:
        raise ModelConfigError(
            f"precision {precision!r}: exports are fp32 (auto = fp32); lower precision is "
            "chosen by the runtime (TensorRT builds fp16 engines from fp32 graphs)"
        )
    model = load_model(
        model_cfg,
        checkpoint,
        "cpu",
        image_size,
        allow_random_weights,
        seed,
        precision="fp32",
        exportable=True,
    )
    output = Path(output_dir)
    output.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{output.name}-", dir=output.parent))
    try:
        manifest = _export_into(model, staging)
        if output.exists():
            shutil.rmtree(output)
        staging.rename(output)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return manifest


def _export_into(model: Sam2Model, directory: Path) -> ExportManifest:
    import onnx

    sam = model.sam
    graphs = {}
    with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about Python values it keeps as such
        for name, graph, inputs, outputs in _examples(sam):
            path = directory / f"{name}.onnx"
            torch.onnx.export(
                graph,
                tuple(inputs.values()),
                str(path),
                input_names=list(inputs),
                output_names=list(outputs),
                dynamic_axes={**_axes(inputs), **_axes(outputs)},
                opset_version=OPSET,
                dynamo=False,
            )
            onnx.checker.check_model(str(path), full_check=True)
            graphs[name] = GraphSpec(
                file=path.name,
                sha256=file_sha256(path),
                inputs=_shapes(inputs),
                outputs=_shapes(outputs),
            )
            LOG.info("exported %s (%.1f MB)", path, path.stat().st_size / 1e6)
    manifest = ExportManifest(
        model_cfg=model.model_cfg,
        weights_fingerprint=model.weights_fingerprint(),
        image_size=model.image_size,
        precision="fp32",
        opset=OPSET,
        torch_version=torch.__version__,
        graphs=graphs,
        memory_layout=memory_layout(sam),
    )
    manifest.write(directory)
    return manifest


def memory_layout(sam: nn.Module) -> dict[str, object]:
    """What ``memory_attention`` is fed, as SAM 2's ``_prepare_memory_conditioned_features``
    lays it out (the engine's orchestration does so whichever backend runs the graph)."""
    side = sam.image_size // sam.backbone_stride
    pointer_tokens = sam.hidden_dim // sam.mem_dim if sam.mem_dim < sam.hidden_dim else 1
    return {
        "tokens_per_memory_frame": side * side,
        "memory_channels": sam.mem_dim,
        "memory_frames": "every conditioning frame (up to the engine's max_conditioning_frames) "
        f"then the {sam.num_maskmem - 1} most recent frames, each with its temporal encoding",
        "num_maskmem": sam.num_maskmem,
        "max_object_pointers": sam.max_obj_ptrs_in_encoder,
        "tokens_per_object_pointer": pointer_tokens,
        "pointers": "conditioning frames' then recent frames' pointers, with SAM 2.1's signed "
        "temporal distance encoding; not rotated",
    }


def _examples(sam: nn.Module):
    """(graph name, module, example inputs, outputs -> shape with axis names) per graph."""
    size, side = sam.image_size, sam.image_size // sam.backbone_stride
    hw, dim, mem = side * side, sam.hidden_dim, sam.mem_dim
    image = torch.randn(1, 3, size, size)
    fpn = ImageEncoderGraph(sam)(image)[:-1]
    levels = {
        f"backbone_fpn_{i}": [1, x.shape[1], x.shape[2], x.shape[3]] for i, x in enumerate(fpn)
    }
    yield (
        "image_encoder",
        ImageEncoderGraph(sam),
        {"image": image},
        {**levels, "vision_pos_enc": [1, dim, side, side]},
    )
    yield (
        "memory_attention",
        MemoryAttentionGraph(sam),
        {
            "curr": _like([hw, "objects", dim]),
            "curr_pos": _like([hw, "objects", dim]),
            "memory": _like(["memory_tokens", "objects", mem], memory_tokens=_MEMORY_FRAMES * hw),
            "memory_pos": _like(
                ["memory_tokens", "objects", mem], memory_tokens=_MEMORY_FRAMES * hw
            ),
            "pointers": _like(["pointer_tokens", "objects", mem]),
            "pointers_pos": _like(["pointer_tokens", "objects", mem]),
        },
        {"conditioned": [hw, "objects", dim]},
    )
    decoder = sam.sam_mask_decoder
    high_res = (
        {f"high_res_{i}": _like(["frames", *x.shape[1:]]) for i, x in enumerate(fpn[:2])}
        if decoder.use_high_res_features
        else {}
    )
    masks = decoder.num_mask_tokens
    yield (
        "mask_decoder",
        MaskDecoderGraph(sam),
        {
            "image_embeddings": _like(["objects", dim, side, side]),
            "image_pe": sam.sam_prompt_encoder.get_dense_pe(),
            "sparse_prompt_embeddings": _like(["objects", "prompt_tokens", dim]),
            "dense_prompt_embeddings": _like(["objects", dim, side, side]),
            **high_res,
        },
        {
            "masks": ["objects", masks, 4 * side, 4 * side],
            "iou_pred": ["objects", masks],
            "mask_tokens_out": ["objects", masks, dim],
            "object_score_logits": ["objects", 1],
        },
    )
    yield (
        "memory_encoder",
        MemoryEncoderGraph(sam),
        {
            "pix_feat": _like(["frames", dim, side, side]),
            "masks": _like(["objects", 1, size, size]),
        },
        {
            "maskmem_features": ["objects", mem, side, side],
            "maskmem_pos_enc": ["objects", mem, side, side],
        },
    )


def _like(shape: list[int | str], **sizes: int) -> torch.Tensor:
    """A random example tensor of ``shape``, axis names taking ``sizes`` (or their defaults)."""
    defaults = {"objects": _OBJECTS, "pointer_tokens": _POINTER_TOKENS, "frames": 1}
    defaults["prompt_tokens"] = _PROMPT_TOKENS
    dims = [d if isinstance(d, int) else {**defaults, **sizes}[d] for d in shape]
    example = torch.randn(*dims)
    example.axis_names = shape
    return example


def _axes(named: dict[str, torch.Tensor | list]) -> dict[str, dict[int, str]]:
    """``dynamic_axes`` for inputs or outputs: every named axis."""
    axes = {}
    for name, value in named.items():
        shape = getattr(value, "axis_names", value)
        if isinstance(shape, list):
            dynamic = {i: d for i, d in enumerate(shape) if isinstance(d, str)}
            if dynamic:
                axes[name] = dynamic
    return axes


def _shapes(named: dict[str, torch.Tensor | list]) -> dict[str, list[int | str]]:
    """Each input's or output's shape, axis names where dynamic."""
    return {
        name: list(getattr(value, "axis_names", None) or _fixed(value))
        for name, value in named.items()
    }


def _fixed(value: torch.Tensor | list) -> list[int | str]:
    return list(value.shape) if isinstance(value, torch.Tensor) else value
