"""Running SAM 2's per-frame components on ONNX Runtime, under the engine's one orchestration.

:func:`install_onnxruntime` checks an export (:mod:`sam2_ros.engine.onnx_graphs`) against the
loaded model and replaces the ``forward`` of the four components it holds with ONNX Runtime
sessions, the way :mod:`sam2_ros.engine.compiled` replaces them with compiled ones: SAM 2's
Python code (``SAM2Base``: memory selection, temporal encodings, object pointers, multimask
choice, memory encoding's mask scaling) and the engine's predictor run unchanged around them.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from sam2_ros.engine.checkpoint import file_sha256
from sam2_ros.engine.compiled import user_cache_dir
from sam2_ros.engine.onnx_graphs import GRAPHS, ExportManifest, OnnxExportError

LOG = logging.getLogger("sam2_ros.engine")

#: ONNX Runtime's execution providers by the short names ``onnx_providers`` takes, in the order
#: ``auto`` prefers them.
PROVIDERS = {
    "tensorrt": "TensorrtExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "cpu": "CPUExecutionProvider",
}


def default_tensorrt_cache_dir() -> Path:
    """Where TensorRT keeps the engines it builds from the graphs (building takes minutes)."""
    return user_cache_dir("tensorrt")


def choose_providers(requested: str, available: Sequence[str]) -> tuple[list[str], str]:
    """The execution providers to run (best first) and why: ``auto`` takes TensorRT, CUDA and
    the CPU as far as the installed onnxruntime offers them; otherwise a comma-separated list of
    ``tensorrt``, ``cuda``, ``cpu``, each of which must be available."""
    if requested.strip() == "auto":
        chosen = [full for full in PROVIDERS.values() if full in available]
        missing = [short for short, full in PROVIDERS.items() if full not in available]
        reason = "auto: " + (
            f"{', '.join(missing)} not offered by this onnxruntime" if missing else "all offered"
        )
        return chosen, reason
    names = [name.strip().lower() for name in requested.split(",") if name.strip()]
    unknown = [name for name in names if name not in PROVIDERS]
    if not names or unknown:
        raise OnnxExportError(
            f"onnx_providers {requested!r}: use auto or a comma-separated list of "
            f"{', '.join(PROVIDERS)}"
        )
    absent = [name for name in names if PROVIDERS[name] not in available]
    if absent:
        raise OnnxExportError(
            f"onnx_providers {requested!r}: {', '.join(absent)} not offered by this onnxruntime "
            f"(it offers {', '.join(available)}; GPUs need onnxruntime-gpu)"
        )
    return [PROVIDERS[name] for name in names], "requested"


@dataclass(frozen=True)
class OnnxRuntimeBackend:
    """What runs the graphs: the export, the providers in effect and why."""

    onnx_dir: Path
    providers: list[str]
    reason: str

    def describe(self) -> str:
        """``onnxruntime (<provider>, ...: <reason>) from <dir>``."""
        names = ", ".join(p.removesuffix("ExecutionProvider") for p in self.providers)
        return f"onnxruntime ({names}; {self.reason}) from {self.onnx_dir}"


def check_export(
    manifest: ExportManifest, directory: Path, model_cfg: str, image_size: int, fingerprint: str
) -> None:
    """Refuse an export made for another model or with a graph file missing or changed."""
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
    for name in GRAPHS:
        spec = manifest.graphs.get(name)
        if spec is None:
            raise OnnxExportError(f"export {directory} has no {name} graph: export again")
        path = directory / spec.file
        if not path.is_file():
            raise OnnxExportError(f"export {directory}: graph file {path} is missing")
        if file_sha256(path) != spec.sha256:
            raise OnnxExportError(
                f"export {directory}: {path} is not the file exported (truncated or changed: "
                "its SHA-256 differs from export.json's): export again"
            )


def install_onnxruntime(
    sam: nn.Module,
    onnx_dir: str | Path,
    model_cfg: str,
    fingerprint: str,
    providers: str = "auto",
    tensorrt_cache_dir: Path | None = None,
    threads: int | None = None,
) -> OnnxRuntimeBackend:
    """Check the export in ``onnx_dir`` against the model and run its graphs in place of the
    components' ``forward`` (:class:`OnnxExportError` naming what does not fit)."""
    import onnxruntime as ort

    directory = Path(onnx_dir)
    manifest = ExportManifest.read(directory)
    check_export(manifest, directory, model_cfg, int(sam.image_size), fingerprint)
    chosen, reason = choose_providers(providers, ort.get_available_providers())
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or torch.get_num_threads()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Torch runs SAM 2's glue between the graphs on the same cores: ONNX Runtime's threads must
    # not spin waiting for the next graph meanwhile.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    cache = tensorrt_cache_dir or default_tensorrt_cache_dir()
    provider_options = [_provider_options(p, cache) for p in chosen]
    sessions = {}
    for name in GRAPHS:
        path = directory / manifest.graphs[name].file
        try:
            sessions[name] = ort.InferenceSession(
                str(path), options, providers=chosen, provider_options=provider_options
            )
        except Exception as err:  # onnxruntime raises its own exception types per failure
            raise OnnxExportError(
                f"onnxruntime cannot load {path}: {str(err).splitlines()[0]}"
            ) from err
    device = next(sam.parameters()).device
    neck_channels = sam.image_encoder.neck.d_model
    sam.image_encoder.forward = functools.partial(
        _image_encoder, _Session(sessions["image_encoder"], device), neck_channels
    )
    sam.memory_attention.forward = functools.partial(
        _memory_attention, _Session(sessions["memory_attention"], device)
    )
    sam.sam_mask_decoder.predict_masks = functools.partial(
        _predict_masks, _Session(sessions["mask_decoder"], device)
    )
    sam.memory_encoder.forward = functools.partial(
        _memory_encoder, _Session(sessions["memory_encoder"], device)
    )
    return OnnxRuntimeBackend(directory, chosen, reason)


def _provider_options(provider: str, tensorrt_cache: Path) -> dict[str, str]:
    if provider == PROVIDERS["tensorrt"]:
        tensorrt_cache.mkdir(parents=True, exist_ok=True)
        return {
            "trt_engine_cache_enable": "True",
            "trt_engine_cache_path": str(tensorrt_cache),
            "trt_timing_cache_enable": "True",
        }
    return {}


class _Session:
    """An ONNX Runtime session fed and read as torch tensors on the model's device."""

    def __init__(self, session, device: torch.device) -> None:
        self._session = session
        self._inputs = [i.name for i in session.get_inputs()]
        self._device = device

    def __call__(self, *inputs: torch.Tensor) -> list[torch.Tensor]:
        feed = {
            name: np.ascontiguousarray(x.detach().float().cpu().numpy())
            for name, x in zip(self._inputs, inputs, strict=True)
        }
        return [torch.from_numpy(y).to(self._device) for y in self._session.run(None, feed)]


def _image_encoder(session: _Session, neck_channels: int, sample: torch.Tensor) -> dict:
    """``ImageEncoder.forward``: the levels, and an all-zero encoding of those SAM 2 does not
    read (as :func:`~sam2_ros.engine.speedups._encode_read_positions_only` gives)."""
    *levels, position = session(sample)
    zeros = [x.new_zeros(()).expand(x.shape[0], neck_channels, *x.shape[-2:]) for x in levels[:-1]]
    return {
        "vision_features": levels[-1],
        "vision_pos_enc": [*zeros, position],
        "backbone_fpn": levels,
    }


def _memory_attention(
    session: _Session,
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
    (conditioned,) = session(
        curr,
        curr_pos,
        memory[:spatial],
        memory_pos[:spatial],
        memory[spatial:],
        memory_pos[spatial:],
    )
    return conditioned


def _predict_masks(
    session: _Session,
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
    return session(
        image_embeddings,
        image_pe,
        sparse_prompt_embeddings,
        dense_prompt_embeddings,
        *(_shared_row(x) for x in high_res_features or []),
    )


def _memory_encoder(
    session: _Session, pix_feat: torch.Tensor, masks: torch.Tensor, skip_mask_sigmoid: bool = False
) -> dict:
    """``MemoryEncoder.forward`` (the graph takes the mask scaled, as SAM 2 passes it)."""
    if not skip_mask_sigmoid:
        masks = torch.sigmoid(masks)
    features, position = session(_shared_row(pix_feat), masks)
    return {"vision_features": features, "vision_pos_enc": [position]}


def _shared_row(x: torch.Tensor) -> torch.Tensor:
    """One row of a batch that is one row expanded (every object's view of the same frame), the
    graphs broadcasting it; ``x`` itself otherwise."""
    return x[:1] if x.shape[0] > 1 and x.stride(0) == 0 else x
