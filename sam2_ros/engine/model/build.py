"""Building a SAM 2 model configured exactly as Meta's video predictor configures it."""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from sam2_ros.engine.graphs.graph_runtime import GraphBackend
from sam2_ros.engine.graphs.onnx_runtime import install_onnxruntime
from sam2_ros.engine.graphs.openvino_runtime import install_openvino
from sam2_ros.engine.model.checkpoint import CheckpointError, load_state_dict_into, read_state_dict
from sam2_ros.engine.model.compiled import COMPILE_MODES, compile_components
from sam2_ros.engine.model.cpu_bf16 import prepare_bf16_on_cpu
from sam2_ros.engine.model.precision import PRECISIONS, choose_precision
from sam2_ros.engine.model.speedups import install_speedups
from sam2_ros.engine.settings import EngineSettings, settings_with

LOG = logging.getLogger("sam2_ros.engine")

#: What runs SAM 2's per-frame components: PyTorch, or ONNX Runtime or OpenVINO on an export.
BACKENDS = ("torch", "onnxruntime", "openvino")
#: The backends that run an export's graphs (``onnx_dir``).
GRAPH_BACKENDS = BACKENDS[1:]

#: Overrides that ``sam2.build_sam.build_sam2_video_predictor`` adds on top of ``build_sam2``'s
#: (besides switching the class): clicked masks are binarized before the memory encoder.
#: ``build_sam2`` itself adds the dynamic multimask-by-stability overrides.
VIDEO_PREDICTOR_OVERRIDES = ("++model.binarize_mask_from_pts_for_mem_enc=true",)

RANDOM_WEIGHTS_WARNING = (
    "SAM 2 is running with RANDOM WEIGHTS (no checkpoint): masks are meaningless. "
    "Download the official weights with model/download_checkpoints.sh."
)


class ModelConfigError(ValueError):
    """An invalid model option (config name, device, image size, precision)."""


def resolve_device(device: str) -> torch.device:
    """Turn ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"`` into an available torch device."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError as err:
        raise ModelConfigError(f"device {device!r} is not a torch device ({err})") from err
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise ModelConfigError(f"device {device!r} requested but CUDA is not available")
        if resolved.index is not None and resolved.index >= torch.cuda.device_count():
            raise ModelConfigError(
                f"device {device!r} requested but only {torch.cuda.device_count()} GPU(s) exist"
            )
    elif resolved.type != "cpu":
        raise ModelConfigError(f"device {device!r} is not supported (use auto, cpu or cuda[:N])")
    return resolved


#: The input resolutions SAM 2 takes.
IMAGE_SIZE_RULE = "a multiple of 32 in [128, 2048]"


def validate_image_size(image_size: int) -> int:
    """Check a SAM 2 input resolution (:data:`IMAGE_SIZE_RULE`)."""
    if not isinstance(image_size, int) or not 128 <= image_size <= 2048 or image_size % 32:
        raise ModelConfigError(
            f"image_size {image_size!r} is invalid: use {IMAGE_SIZE_RULE} "
            "(SAM 2 models are trained at 1024)"
        )
    return image_size


@dataclass
class Sam2Model:
    """A loaded SAM 2 network on its device; one instance can serve many streams."""

    sam: torch.nn.Module
    device: torch.device
    model_cfg: str
    checkpoint: Path | None
    image_size: int
    compile_mode: str = "none"
    #: ``"bf16"`` or ``"fp32"``: the precision in effect (see
    #: :mod:`sam2_ros.engine.model.precision`).
    precision: str = "fp32"
    #: Why that precision, in one line (e.g. ``"bf16: CPU has avx512_bf16"``).
    precision_reason: str = "fp32: requested"
    #: What runs the export's graphs, with a graph backend (onnxruntime, openvino).
    graph_backend: GraphBackend | None = None
    _fingerprint: str | None = field(default=None, repr=False)

    def weights_fingerprint(self) -> str:
        """SHA-256 over the state dict (names, dtypes, shapes, values), computed once: memories
        made with one set of weights mean nothing to another."""
        if self._fingerprint is None:
            digest = hashlib.sha256()
            for name, tensor in sorted(self.sam.state_dict().items()):
                value = tensor.detach().to("cpu").contiguous()
                digest.update(f"{name}:{value.dtype}:{tuple(value.shape)};".encode())
                digest.update(value.view(torch.uint8).numpy().tobytes())
            self._fingerprint = digest.hexdigest()
        return self._fingerprint

    @property
    def autocast_dtype(self) -> torch.dtype | None:
        """bf16 when that is the precision of torch's work (as Meta runs SAM 2 on CUDA), else
        None: fp32 (always with a graph backend, whose runtime infers in its own precision)."""
        if self.precision == "bf16" and self.graph_backend is None:
            return torch.bfloat16
        return None

    @contextlib.contextmanager
    def inference(self) -> Iterator[None]:
        """Inference mode, plus bf16 autocast when the precision is bf16, and torch's threads as
        :meth:`glue_threads` says."""
        with torch.inference_mode(), self.glue_threads():
            if self.autocast_dtype is None:
                yield
            else:
                with torch.autocast(self.device.type, dtype=self.autocast_dtype):
                    yield

    @contextlib.contextmanager
    def glue_threads(self) -> Iterator[None]:
        """With a graph backend on the CPU, torch runs SAM 2's glue between the graphs on the
        calling thread alone meanwhile: an OpenMP team would keep spinning after each small op
        on the cores the runtime's threads need next (measured: OpenVINO bf16 at 4 objects 0.83x
        the time with torch's team passive; the glue is small element-wise work)."""
        if self.graph_backend is None or self.device.type != "cpu":
            yield
            return
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            yield
        finally:
            torch.set_num_threads(threads)

    def compile(self, mode: str = "default", cache_dir: Path | None = None) -> None:
        """``torch.compile`` every per-frame component (see :mod:`sam2_ros.engine.model.compiled`);
        compilation itself happens on first use
        (:func:`sam2_ros.engine.streaming.warm_up.warm_up`)."""
        if mode not in COMPILE_MODES:
            modes = ", ".join(COMPILE_MODES)
            raise ModelConfigError(f"compile mode {mode!r} is not one of {modes}")
        if self.compiled:
            raise ModelConfigError(f"the model is compiled already ({self.compile_mode})")
        _check_compile(mode, self.backend)
        if mode != "none":
            compile_components(self.sam, self.device, mode, cache_dir)
            self.compile_mode = mode

    @property
    def backend(self) -> str:
        """``torch``, ``onnxruntime`` or ``openvino``."""
        return "torch" if self.graph_backend is None else self.graph_backend.runtime

    def describe_backend(self) -> str:
        """The backend in one line (for a graph backend: where it runs, why, the export)."""
        return "torch" if self.graph_backend is None else self.graph_backend.describe()

    @property
    def compiled(self) -> bool:
        """Whether the components run compiled (the engine then pads batches to buckets)."""
        return self.compile_mode != "none"

    def release(self) -> None:
        """Drop the network and return cached device memory to the driver."""
        self.sam = None
        if self.device.type == "cuda":
            torch.cuda.empty_cache()


def load_model(settings: EngineSettings | None = None, /, **changes: Any) -> Sam2Model:
    """Build SAM 2 from ``settings`` (with ``changes``: field names of
    :class:`~sam2_ros.engine.settings.EngineSettings`) and load its weights.

    Without a checkpoint this is an error unless ``allow_random_weights``; the random weights are
    seeded with ``seed``, so two models built alike are identical. ``precision``: ``"auto"``
    (bf16 on CUDA and on CPUs with native bf16 matrix instructions, else fp32), ``"fp32"`` or
    ``"bf16"``; the model says which is in effect and why.

    ``backend="onnxruntime"`` runs the per-frame components from the export in ``onnx_dir``
    (``sam2-ros export``), which must have been made from the same config, image size and
    weights, on ``onnx_providers`` (see
    :func:`~sam2_ros.engine.graphs.onnx_runtime.choose_providers`; TensorRT keeps its engines in
    ``tensorrt_cache_dir``); its graphs are fp32. ``backend="openvino"`` runs the same export on
    OpenVINO's ``openvino_device`` (CPU, GPU, NPU, AUTO), in bf16 or fp32 as ``precision`` says
    (see :func:`~sam2_ros.engine.graphs.openvino_runtime.choose_precision`), with torch's glue on
    the CPU.
    With either, SAM 2's glue between the graphs runs in fp32 torch. ``exportable``: only the
    speed-ups an ONNX trace records whole (for :mod:`sam2_ros.engine.model.onnx_export`).
    """
    settings = settings_with(settings, changes)
    backend = settings.backend
    validate_backend(backend, settings.onnx_dir, settings.precision)
    device = "cpu" if backend == "openvino" and settings.device == "auto" else settings.device
    resolved_device = resolve_device(device)
    if backend == "openvino" and resolved_device.type != "cpu":
        raise ModelConfigError(
            f"backend openvino runs torch's glue on the CPU and the graphs on openvino_device: "
            f"use device cpu or auto, not {device}"
        )
    in_effect, reason = (
        choose_precision(settings.precision, resolved_device)
        if backend == "torch"
        else ("fp32", "")
    )
    if settings.checkpoint is None and not settings.allow_random_weights:
        raise CheckpointError(
            "no checkpoint given: download the official weights with "
            "model/download_checkpoints.sh and pass the .pt path (random weights are only "
            "for tests and demos: allow_random_weights=True)"
        )
    sam = _build_sam(settings).to(resolved_device).eval()
    model = Sam2Model(
        sam=sam,
        device=resolved_device,
        model_cfg=settings.model_cfg,
        checkpoint=settings.checkpoint,
        image_size=int(sam.image_size),
        precision=in_effect,
        precision_reason=reason,
    )
    install_speedups(sam, resolved_device, in_effect, settings.exportable)
    if in_effect == "bf16" and resolved_device.type == "cpu":
        model.weights_fingerprint()  # of the weights as loaded, before bf16 copies replace them
        prepare_bf16_on_cpu(sam)
    _install_graph_backend(model, settings)
    return model


def _build_sam(settings: EngineSettings) -> torch.nn.Module:
    """SAM 2 as the video predictor builds it, on the CPU, with the checkpoint's weights or
    seeded random ones."""
    from sam2.build_sam import build_sam2  # imports hydra and registers SAM 2's configs

    checkpoint, model_cfg = settings.checkpoint, settings.model_cfg
    state_dict = read_state_dict(checkpoint) if checkpoint is not None else None
    overrides = list(VIDEO_PREDICTOR_OVERRIDES)
    if settings.image_size is not None:
        overrides.append(f"++model.image_size={validate_image_size(settings.image_size)}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(settings.seed)
        try:
            sam = build_sam2(
                model_cfg, ckpt_path=None, device="cpu", hydra_overrides_extra=overrides
            )
        except Exception as err:  # hydra raises MissingConfigException, omegaconf errors, ...
            raise ModelConfigError(
                f"cannot build SAM 2 from config {model_cfg!r}: {str(err).splitlines()[0]} "
                "(use e.g. configs/sam2.1/sam2.1_hiera_t.yaml)"
            ) from err
    if state_dict is not None:
        load_state_dict_into(sam, state_dict, checkpoint, model_cfg)
    else:
        LOG.warning(RANDOM_WEIGHTS_WARNING)
    return sam


def _install_graph_backend(model: Sam2Model, settings: EngineSettings) -> None:
    """Put the export's graphs in place of the components (backends onnxruntime, openvino)."""
    if settings.backend == "onnxruntime":
        model.precision_reason = "fp32: the ONNX Runtime backend runs fp32 graphs"
        model.graph_backend = install_onnxruntime(
            model.sam,
            settings.onnx_dir,
            settings.model_cfg,
            model.weights_fingerprint(),
            settings.onnx_providers,
            settings.tensorrt_cache_dir,
        )
    elif settings.backend == "openvino":
        model.graph_backend, model.precision, model.precision_reason = install_openvino(
            model.sam,
            settings.onnx_dir,
            settings.model_cfg,
            model.weights_fingerprint(),
            settings.precision,
            settings.openvino_device,
        )


def validate_backend(
    backend: str, onnx_dir: str | Path | None, precision: str, compile_mode: str = "none"
) -> None:
    """Refuse a backend, precision, export folder and compile mode that cannot go together
    (:class:`ModelConfigError`): the one check the engine and the node's parameters share."""
    if backend not in BACKENDS:
        raise ModelConfigError(f"backend {backend!r} is not one of {', '.join(BACKENDS)}")
    if precision not in PRECISIONS:
        raise ModelConfigError(f"precision {precision!r} is not one of {', '.join(PRECISIONS)}")
    if backend in GRAPH_BACKENDS and (onnx_dir is None or not str(onnx_dir)):
        raise ModelConfigError(
            f"backend {backend} needs onnx_dir: the folder of an export (sam2-ros export)"
        )
    if backend == "onnxruntime" and precision == "bf16":
        raise ModelConfigError(
            "precision bf16 applies to the torch and openvino backends: ONNX Runtime runs the "
            "export's fp32 graphs (use precision auto or fp32)"
        )
    _check_compile(compile_mode, backend)


def _check_compile(mode: str, backend: str) -> None:
    """torch.compile applies to the torch backend only."""
    if mode != "none" and backend in GRAPH_BACKENDS:
        raise ModelConfigError(
            f"compile {mode} applies to the torch backend only: with backend {backend} the "
            "runtime optimises the graphs itself (set compile: none)"
        )
