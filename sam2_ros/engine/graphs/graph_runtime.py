"""Running SAM 2's per-frame components from an export, under the engine's one orchestration.

An export (:mod:`sam2_ros.engine.graphs.onnx_graphs`) holds one graph per component
(:mod:`sam2_ros.engine.graphs.components`). A graph runtime
(:mod:`~sam2_ros.engine.graphs.onnx_runtime`, :mod:`~sam2_ros.engine.graphs.openvino_runtime`)
checks it against the loaded model, builds one :class:`GraphRunner` per graph, and
:func:`install_graphs` puts them in place of the methods SAM 2 calls, the way
:mod:`sam2_ros.engine.model.compiled` puts compiled ones: SAM 2's Python code
(``SAM2Base``: memory selection, temporal encodings, object pointers, multimask choice, memory
encoding's mask scaling) and the engine's predictor run unchanged around them.

Runners read their inputs where torch keeps them and write their outputs into tensors allocated
here, whose shapes follow from the named axes the export declares: no host copy in between.
"""

from __future__ import annotations

import functools
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from sam2_ros.engine.files import file_sha256
from sam2_ros.engine.graphs.components import COMPONENTS
from sam2_ros.engine.graphs.onnx_graphs import ExportManifest, GraphSpec, OnnxExportError


@dataclass(frozen=True)
class GraphBackend:
    """What runs an export's graphs: the runtime, where it runs them, why there, the export."""

    runtime: str
    onnx_dir: Path
    #: ONNX Runtime's providers, or OpenVINO's device, with the precision it infers in.
    target: str
    reason: str

    def describe(self) -> str:
        """``<runtime> (<target>; <reason>) from <dir>``."""
        return f"{self.runtime} ({self.target}; {self.reason}) from {self.onnx_dir}"


def read_export(
    directory: str | Path, model_cfg: str, image_size: int, fingerprint: str
) -> ExportManifest:
    """The manifest of the export in ``directory``, refused (:class:`OnnxExportError`, one
    message naming every difference) when it was made for another model or a graph file is
    missing or changed."""
    directory = Path(directory)
    manifest = ExportManifest.read(directory)
    differences = []
    if manifest.model_cfg != model_cfg:
        differences.append(f"model config {manifest.model_cfg} (this model: {model_cfg})")
    if manifest.image_size != image_size:
        differences.append(f"image size {manifest.image_size} px (this model: {image_size} px)")
    if manifest.weights_fingerprint != fingerprint:
        differences.append(
            f"weights fingerprint {manifest.weights_fingerprint[:12]} (this model's: "
            f"{fingerprint[:12]}): graphs hold the weights they were exported with"
        )
    if differences:
        raise OnnxExportError(
            f"export {directory} was made for another model: {'; '.join(differences)}; "
            "export again with sam2-ros export"
        )
    for component in COMPONENTS:
        spec = manifest.graphs.get(component.name)
        if spec is None:
            raise OnnxExportError(f"export {directory} has no {component.name} graph: export again")
        path = directory / spec.file
        if not path.is_file():
            raise OnnxExportError(f"export {directory}: graph file {path} is missing")
        if file_sha256(path) != spec.sha256:
            raise OnnxExportError(
                f"export {directory}: {path} is not the file exported (truncated or changed: "
                "its SHA-256 differs from export.json's): export again"
            )
    return manifest


class GraphRunner(ABC):
    """One graph of an export, called with torch tensors and answering torch tensors on the
    model's device: inputs as float32 and contiguous where they lie, outputs allocated with the
    shapes the export declares for the inputs' axis lengths."""

    def __init__(
        self, spec: GraphSpec, inputs: list[str], outputs: list[str], device: torch.device
    ) -> None:
        self.inputs = inputs
        self.outputs = outputs
        self._input_shapes = [spec.inputs[name] for name in inputs]
        self._output_shapes = [spec.outputs[name] for name in outputs]
        self._device = device

    def __call__(self, *inputs: torch.Tensor) -> list[torch.Tensor]:
        """The graph's outputs on ``inputs``, in the export's order."""
        ready = [x.detach().to(self._device, torch.float32).contiguous() for x in inputs]
        lengths: dict[str, int] = {}
        for x, shape in zip(ready, self._input_shapes, strict=True):
            lengths.update(
                (d, n) for d, n in zip(shape, x.shape, strict=True) if isinstance(d, str)
            )
        outputs = [
            torch.empty(
                [d if isinstance(d, int) else lengths[d] for d in shape],
                dtype=torch.float32,
                device=self._device,
            )
            for shape in self._output_shapes
        ]
        self.run(ready, outputs)
        return outputs

    @abstractmethod
    def run(self, inputs: list[torch.Tensor], outputs: list[torch.Tensor]) -> None:
        """Run the graph on ``inputs``, writing ``outputs`` in place."""


def install_graphs(sam: nn.Module, runners: dict[str, GraphRunner]) -> None:
    """Put each component's graph in place of the method SAM 2 calls."""
    for component in COMPONENTS:
        module, method = component.call(sam)
        setattr(
            module, method, functools.partial(_ADAPTERS[component.name], runners[component.name])
        )


def _image_encoder(graph: GraphRunner, sample: torch.Tensor) -> dict:
    """``ImageEncoder.forward``: the levels, and an all-zero encoding (as many channels as the
    one read) of those SAM 2 does not read, as
    :func:`~sam2_ros.engine.model.speedups._encode_read_positions_only` gives."""
    *levels, position = graph(sample)
    channels = position.shape[1]
    zeros = [x.new_zeros(()).expand(x.shape[0], channels, *x.shape[-2:]) for x in levels[:-1]]
    return {
        "vision_features": levels[-1],
        "vision_pos_enc": [*zeros, position],
        "backbone_fpn": levels,
    }


def _memory_attention(
    graph: GraphRunner,
    curr: torch.Tensor | list[torch.Tensor],
    memory: torch.Tensor,
    curr_pos: torch.Tensor | list[torch.Tensor] | None = None,
    memory_pos: torch.Tensor | None = None,
    num_obj_ptr_tokens: int = 0,
) -> torch.Tensor:
    """``MemoryAttention.forward``: spatial memories and pointer tokens split for the graph."""
    curr = curr[0] if isinstance(curr, list) else curr
    curr_pos = curr_pos[0] if isinstance(curr_pos, list) else curr_pos
    spatial = memory.shape[0] - num_obj_ptr_tokens
    (conditioned,) = graph(
        curr,
        curr_pos,
        memory[:spatial],
        memory_pos[:spatial],
        memory[spatial:],
        memory_pos[spatial:],
    )
    return conditioned


def _predict_masks(
    graph: GraphRunner,
    image_embeddings: torch.Tensor,
    image_pe: torch.Tensor,
    sparse_prompt_embeddings: torch.Tensor,
    dense_prompt_embeddings: torch.Tensor,
    repeat_image: bool,
    high_res_features: list[torch.Tensor] | None = None,
) -> list[torch.Tensor]:
    """``MaskDecoder.predict_masks`` (one image row per object, as SAM 2's video path calls it)."""
    if repeat_image:
        image_embeddings = image_embeddings.expand(sparse_prompt_embeddings.shape[0], -1, -1, -1)
    return graph(
        image_embeddings,
        image_pe,
        sparse_prompt_embeddings,
        dense_prompt_embeddings,
        *(_shared_row(x) for x in high_res_features or []),
    )


def _memory_encoder(
    graph: GraphRunner, pix_feat: torch.Tensor, masks: torch.Tensor, skip_mask_sigmoid: bool = False
) -> dict:
    """``MemoryEncoder.forward`` (the graph takes the mask scaled, as SAM 2 passes it)."""
    if not skip_mask_sigmoid:
        masks = torch.sigmoid(masks)
    features, position = graph(_shared_row(pix_feat), masks)
    return {"vision_features": features, "vision_pos_enc": [position]}


def _shared_row(x: torch.Tensor) -> torch.Tensor:
    """One row of a batch that is one row expanded (every object's view of the same frame), the
    graphs broadcasting it; ``x`` itself otherwise."""
    return x[:1] if x.shape[0] > 1 and x.stride(0) == 0 else x


#: What stands in for each component: called with its graph first.
_ADAPTERS = {
    "image_encoder": _image_encoder,
    "memory_attention": _memory_attention,
    "mask_decoder": _predict_masks,
    "memory_encoder": _memory_encoder,
}
