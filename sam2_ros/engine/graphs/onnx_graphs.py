"""SAM 2's four per-frame components as ONNX graphs, and the manifest that describes an export.

The graphs are the components the engine calls for every frame, cut where SAM 2's own Python
orchestration calls them (``SAM2Base`` stays the orchestration, whichever backend runs them):

* ``image_encoder``: Hiera + FPN neck on one frame -> the feature levels and the positional
  encoding of the lowest-resolution level (the only one SAM 2 reads);
* ``memory_attention``: the current frame's features attending to an object's memory: spatial
  memories (every conditioning frame and the recent frames, ``memory_tokens`` long) and object
  pointers (``pointer_tokens`` long, not rotated), both dynamic, so the graph holds SAM 2's whole
  memory window, whatever it holds on a given frame;
* ``mask_decoder``: ``MaskDecoder.predict_masks`` (all mask tokens: the choice among them stays
  SAM 2's Python code), the number of prompt tokens dynamic;
* ``memory_encoder``: a frame's features and (already scaled) mask -> a memory and its encoding.

Object batches are a dynamic axis of every graph but the image encoder's. The current frame's
features that every object shares (the mask decoder's high-resolution levels, the memory
encoder's frame) have an axis of their own, ``frames``: one row broadcast over the objects (the
graph then projects the frame once for all of them), or one per object.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import nn

FORMAT = "sam2_ros.onnx_export"
VERSION = 1
MANIFEST = "export.json"
OPSET = 17


class OnnxExportError(ValueError):
    """An export that cannot serve a model: missing, corrupt, or made for another model."""


@dataclass(frozen=True)
class GraphSpec:
    """One graph file: its inputs and outputs (name -> shape, axis names for dynamic axes)."""

    file: str
    sha256: str
    inputs: dict[str, list[int | str]]
    outputs: dict[str, list[int | str]]


@dataclass(frozen=True)
class ExportManifest:
    """What an export was made from and what its graphs expect (``export.json``)."""

    model_cfg: str
    weights_fingerprint: str
    image_size: int
    precision: str
    opset: int
    torch_version: str
    graphs: dict[str, GraphSpec]
    memory_layout: dict[str, object] = field(default_factory=dict)
    format: str = FORMAT
    version: int = VERSION

    def write(self, directory: Path) -> Path:
        """Write ``export.json`` into ``directory``; its path."""
        path = directory / MANIFEST
        path.write_text(json.dumps(asdict(self), indent=2) + "\n")
        return path

    @classmethod
    def read(cls, directory: Path) -> ExportManifest:
        """The manifest of the export in ``directory`` (:class:`OnnxExportError` if none)."""
        path = Path(directory) / MANIFEST
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError as err:
            raise OnnxExportError(
                f"{directory} is not an export: no {MANIFEST} (make one with sam2-ros export)"
            ) from err
        except (OSError, ValueError) as err:
            raise OnnxExportError(f"cannot read {path}: {err}") from err
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise OnnxExportError(f"{path} is not a sam2_ros export manifest")
        if data.get("version") != VERSION:
            raise OnnxExportError(
                f"{path} has manifest version {data.get('version')}; this sam2_ros reads "
                f"version {VERSION}: export again"
            )
        try:
            graphs = {name: GraphSpec(**spec) for name, spec in data.pop("graphs").items()}
            return cls(graphs=graphs, **data)
        except (KeyError, TypeError) as err:
            raise OnnxExportError(f"{path} is incomplete ({err}): export again") from err


class ImageEncoderGraph(nn.Module):
    """``image_encoder``: the FPN levels and the lowest-resolution level's position encoding."""

    def __init__(self, sam: nn.Module) -> None:
        super().__init__()
        self.encoder = sam.image_encoder

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Levels fine to coarse, then the coarsest level's position encoding."""
        out = self.encoder(image)
        return (*out["backbone_fpn"], out["vision_pos_enc"][-1])


class MemoryAttentionGraph(nn.Module):
    """``memory_attention`` with spatial memories and object pointers as separate inputs, so the
    number of pointer tokens (which skip the rotary encoding) follows their input's shape."""

    def __init__(self, sam: nn.Module) -> None:
        super().__init__()
        self.attention = sam.memory_attention

    def forward(
        self,
        curr: torch.Tensor,
        curr_pos: torch.Tensor,
        memory: torch.Tensor,
        memory_pos: torch.Tensor,
        pointers: torch.Tensor,
        pointers_pos: torch.Tensor,
    ) -> torch.Tensor:
        """The current frame's features conditioned on the memory, ``(tokens, objects, C)``."""
        return self.attention(
            curr=[curr],
            curr_pos=[curr_pos],
            memory=torch.cat([memory, pointers]),
            memory_pos=torch.cat([memory_pos, pointers_pos]),
            num_obj_ptr_tokens=pointers.shape[0],
        )


class MaskDecoderGraph(nn.Module):
    """``mask_decoder``: ``predict_masks`` for a batch of objects (one image row each)."""

    def __init__(self, sam: nn.Module) -> None:
        super().__init__()
        self.decoder = sam.sam_mask_decoder

    def forward(
        self,
        image_embeddings: torch.Tensor,
        image_pe: torch.Tensor,
        sparse_prompt_embeddings: torch.Tensor,
        dense_prompt_embeddings: torch.Tensor,
        *high_res_features: torch.Tensor,
    ) -> tuple[torch.Tensor, ...]:
        """Masks, predicted IoUs, mask tokens and object score logits, every mask token's."""
        return self.decoder.predict_masks(
            image_embeddings=image_embeddings,
            image_pe=image_pe,
            sparse_prompt_embeddings=sparse_prompt_embeddings,
            dense_prompt_embeddings=dense_prompt_embeddings,
            repeat_image=False,
            high_res_features=list(high_res_features) or None,
        )


class MemoryEncoderGraph(nn.Module):
    """``memory_encoder`` on a frame's features and the mask SAM 2 already scaled."""

    def __init__(self, sam: nn.Module) -> None:
        super().__init__()
        self.encoder = sam.memory_encoder

    def forward(self, pix_feat: torch.Tensor, masks: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """A memory per object and its position encoding."""
        out = self.encoder(pix_feat, masks, skip_mask_sigmoid=True)
        return out["vision_features"], out["vision_pos_enc"][0]


#: The module traced into each component's graph, by component name.
GRAPH_MODULES: dict[str, type[nn.Module]] = {
    "image_encoder": ImageEncoderGraph,
    "memory_attention": MemoryAttentionGraph,
    "mask_decoder": MaskDecoderGraph,
    "memory_encoder": MemoryEncoderGraph,
}
