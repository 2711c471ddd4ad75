"""SAM 2's exported graphs on ONNX Runtime (see :mod:`sam2_ros.engine.graphs.graph_runtime`).

Inputs and outputs are bound to the torch tensors' memory (IO binding): no host copy either way.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from sam2_ros.engine.files import user_cache_dir
from sam2_ros.engine.graphs.components import COMPONENTS
from sam2_ros.engine.graphs.graph_runtime import (
    GraphBackend,
    GraphRunner,
    install_graphs,
    read_export,
)
from sam2_ros.engine.graphs.onnx_graphs import GraphSpec, OnnxExportError

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


def install_onnxruntime(
    sam: nn.Module,
    onnx_dir: str | Path,
    model_cfg: str,
    fingerprint: str,
    providers: str = "auto",
    tensorrt_cache_dir: Path | None = None,
) -> GraphBackend:
    """Check the export in ``onnx_dir`` against the model and run its graphs on ONNX Runtime in
    place of the components' methods (:class:`OnnxExportError` naming what does not fit)."""
    import onnxruntime as ort

    directory = Path(onnx_dir)
    manifest = read_export(directory, model_cfg, int(sam.image_size), fingerprint)
    chosen, reason = choose_providers(providers, ort.get_available_providers())
    options = ort.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Torch runs SAM 2's glue between the graphs on the same cores: ONNX Runtime's threads must
    # not spin waiting for the next graph meanwhile.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    cache = tensorrt_cache_dir or default_tensorrt_cache_dir()
    provider_options = [_provider_options(p, cache) for p in chosen]
    device = next(sam.parameters()).device
    runners = {}
    for component in COMPONENTS:
        spec = manifest.graphs[component.name]
        path = directory / spec.file
        try:
            session = ort.InferenceSession(
                str(path), options, providers=chosen, provider_options=provider_options
            )
        except Exception as err:  # onnxruntime raises its own exception types per failure
            raise OnnxExportError(
                f"onnxruntime cannot load {path}: {str(err).splitlines()[0]}"
            ) from err
        runners[component.name] = _SessionRunner(session, spec, device)
    install_graphs(sam, runners)
    names = ", ".join(p.removesuffix("ExecutionProvider") for p in chosen)
    return GraphBackend("onnxruntime", directory, names, reason)


def _provider_options(provider: str, tensorrt_cache: Path) -> dict[str, str]:
    if provider == PROVIDERS["tensorrt"]:
        tensorrt_cache.mkdir(parents=True, exist_ok=True)
        return {
            "trt_engine_cache_enable": "True",
            "trt_engine_cache_path": str(tensorrt_cache),
            "trt_timing_cache_enable": "True",
        }
    return {}


class _SessionRunner(GraphRunner):
    """An ONNX Runtime session whose inputs and outputs are bound to torch tensors."""

    def __init__(self, session, spec: GraphSpec, device: torch.device) -> None:
        super().__init__(
            spec,
            [i.name for i in session.get_inputs()],
            [o.name for o in session.get_outputs()],
            device,
        )
        self._session = session
        self._binding = session.io_binding()

    def run(self, inputs: list[torch.Tensor], outputs: list[torch.Tensor]) -> None:
        binding = self._binding
        binding.clear_binding_inputs()
        binding.clear_binding_outputs()
        for bind, names, tensors in (
            (binding.bind_input, self.inputs, inputs),
            (binding.bind_output, self.outputs, outputs),
        ):
            for name, x in zip(names, tensors, strict=True):
                bind(
                    name,
                    x.device.type,
                    x.device.index or 0,
                    np.float32,
                    list(x.shape),
                    x.data_ptr(),
                )
        self._session.run_with_iobinding(binding)
