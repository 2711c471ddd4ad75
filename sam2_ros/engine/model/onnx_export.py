"""Exporting SAM 2's per-frame components to ONNX (see :mod:`sam2_ros.engine.graphs.onnx_graphs`).

The model is built as the engine builds it, with only the speed-ups a trace records whole
(:func:`~sam2_ros.engine.model.speedups.install_speedups` ``exportable``), on the CPU in fp32; each
component is traced on example inputs of two objects (so no axis of one is taken for a constant)
and checked with ``onnx.checker``. Lower precisions are the runtime's business (TensorRT builds
fp16 engines from fp32 graphs).
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch import nn

from sam2_ros.engine.files import file_sha256
from sam2_ros.engine.graphs.components import COMPONENTS
from sam2_ros.engine.graphs.onnx_graphs import (
    GRAPH_MODULES,
    OPSET,
    ExportManifest,
    GraphSpec,
    ImageEncoderGraph,
)
from sam2_ros.engine.model.build import ModelConfigError, Sam2Model, load_model
from sam2_ros.engine.settings import EngineSettings, settings_with

LOG = logging.getLogger("sam2_ros.engine")

#: Precisions an export can be made in (graphs are fp32; see the module docstring).
EXPORT_PRECISIONS = ("auto", "fp32")
#: Lengths of the named axes in the examples traced: none 1 where it can be more (a trace could
#: take it for a constant), none equal to another (``frames``: one row, broadcast).
_EXAMPLE_SIZES = {"objects": 2, "frames": 1, "pointer_tokens": 8, "prompt_tokens": 3}
_MEMORY_FRAMES = 3


def export_onnx(
    output_dir: str | Path, settings: EngineSettings | None = None, /, **changes: Any
) -> ExportManifest:
    """Write the four graphs and ``export.json`` of the model of ``settings`` (with ``changes``)
    into ``output_dir`` (made, or replaced as a whole: graphs are written to a temporary folder
    beside it first); the manifest. Exports are fp32 and made on the CPU."""
    settings = settings_with(settings, changes)
    if settings.precision not in EXPORT_PRECISIONS:
        raise ModelConfigError(
            f"precision {settings.precision!r}: exports are fp32 (auto = fp32); lower precision is "
            "chosen by the runtime (TensorRT builds fp16 engines from fp32 graphs)"
        )
    model = load_model(settings, device="cpu", precision="fp32", exportable=True)
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
    side = sam.image_size // sam.backbone_stride
    sizes = {**_EXAMPLE_SIZES, "memory_tokens": _MEMORY_FRAMES * side * side}
    graphs = {}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about Python values it keeps as such
        for name, graph, inputs, outputs in _graphs(sam):
            path = directory / f"{name}.onnx"
            torch.onnx.export(
                graph,
                tuple(_example(shape, sizes) for shape in inputs.values()),
                str(path),
                input_names=list(inputs),
                output_names=list(outputs),
                dynamic_axes={**_axes(inputs), **_axes(outputs)},
                opset_version=OPSET,
                dynamo=False,
            )
            onnx.checker.check_model(str(path), full_check=True)
            graphs[name] = GraphSpec(path.name, file_sha256(path), inputs, outputs)
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


#: A shape: sizes, and names for the dynamic axes.
Shape = list[int | str]


def _graphs(sam: nn.Module) -> Iterator[tuple[str, nn.Module, dict[str, Shape], dict[str, Shape]]]:
    """(graph name, module, its inputs' shapes, its outputs' shapes) per component, in order."""
    shapes = _shapes(sam)
    for component in COMPONENTS:
        yield component.name, GRAPH_MODULES[component.name](sam), *shapes[component.name]


def _shapes(sam: nn.Module) -> dict[str, tuple[dict[str, Shape], dict[str, Shape]]]:
    """Each graph's inputs' and outputs' shapes, by component."""
    size, side = sam.image_size, sam.image_size // sam.backbone_stride
    hw, dim, mem = side * side, sam.hidden_dim, sam.mem_dim
    with torch.no_grad():
        fpn = ImageEncoderGraph(sam)(torch.zeros(1, 3, size, size))[:-1]
    levels = {f"backbone_fpn_{i}": [1, *x.shape[1:]] for i, x in enumerate(fpn)}
    decoder = sam.sam_mask_decoder
    high_res = (
        {f"high_res_{i}": ["frames", *x.shape[1:]] for i, x in enumerate(fpn[:2])}
        if decoder.use_high_res_features
        else {}
    )
    masks = decoder.num_mask_tokens
    return {
        "image_encoder": (
            {"image": [1, 3, size, size]},
            {**levels, "vision_pos_enc": [1, dim, side, side]},
        ),
        "memory_attention": (
            {
                "curr": [hw, "objects", dim],
                "curr_pos": [hw, "objects", dim],
                "memory": ["memory_tokens", "objects", mem],
                "memory_pos": ["memory_tokens", "objects", mem],
                "pointers": ["pointer_tokens", "objects", mem],
                "pointers_pos": ["pointer_tokens", "objects", mem],
            },
            {"conditioned": [hw, "objects", dim]},
        ),
        "mask_decoder": (
            {
                "image_embeddings": ["objects", dim, side, side],
                "image_pe": [1, dim, side, side],
                "sparse_prompt_embeddings": ["objects", "prompt_tokens", dim],
                "dense_prompt_embeddings": ["objects", dim, side, side],
                **high_res,
            },
            {
                "masks": ["objects", masks, 4 * side, 4 * side],
                "iou_pred": ["objects", masks],
                "mask_tokens_out": ["objects", masks, dim],
                "object_score_logits": ["objects", 1],
            },
        ),
        "memory_encoder": (
            {"pix_feat": ["frames", dim, side, side], "masks": ["objects", 1, size, size]},
            {
                "maskmem_features": ["objects", mem, side, side],
                "maskmem_pos_enc": ["objects", mem, side, side],
            },
        ),
    }


def _example(shape: Shape, sizes: dict[str, int]) -> torch.Tensor:
    """A random tensor of ``shape``, its named axes ``sizes`` long."""
    return torch.randn(*(d if isinstance(d, int) else sizes[d] for d in shape))


def _axes(shapes: dict[str, Shape]) -> dict[str, dict[int, str]]:
    """``dynamic_axes`` of inputs or outputs: their named axes."""
    axes = {
        name: {i: d for i, d in enumerate(shape) if isinstance(d, str)}
        for name, shape in shapes.items()
    }
    return {name: named for name, named in axes.items() if named}
