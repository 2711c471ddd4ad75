"""SAM 2's exported graphs on OpenVINO (see :mod:`sam2_ros.engine.graphs.graph_runtime`): the CPU of
robots without an NVIDIA GPU (x86 and ARM), and Intel integrated GPUs and NPUs.

OpenVINO reads the export's ``.onnx`` files itself; it keeps the models it compiles from them in
the user cache directory (``openvino``, keyed by the graphs' content and the settings) so that a
second start skips compiling. Inputs are
OpenVINO tensors over the torch tensors' memory and outputs are written into torch tensors: no
host copy either way.

Precision: OpenVINO's CPU plugin infers in bf16 by itself on CPUs with bf16 units (avx512_bf16,
AMX); ``fp32`` therefore sets the f32 inference precision hint explicitly, ``bf16`` the bf16 one
(refused on a device without bf16), ``auto`` bf16 where the device offers it, else f32. SAM 2's
glue between the graphs stays fp32 in torch.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

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

#: Devices ``openvino_device`` names, as OpenVINO does (``GPU.1`` picks one of several GPUs);
#: ``AUTO`` lets OpenVINO choose among those present.
DEVICE_KINDS = ("CPU", "GPU", "NPU", "AUTO")

#: OpenVINO's inference precision hint for each of our precisions.
HINTS = {"fp32": "f32", "bf16": "bf16"}


def default_openvino_cache_dir() -> Path:
    """Where OpenVINO keeps the models it compiles from the graphs."""
    return user_cache_dir("openvino")


def choose_device(requested: str, available: Sequence[str]) -> str:
    """``requested`` as OpenVINO names it, if OpenVINO offers it here (``GPU`` is offered when
    any ``GPU.N`` is; ``AUTO`` always); :class:`OnnxExportError` with the devices offered."""
    device = requested.strip().upper()
    kind = device.split(".")[0].split(":")[0]
    offered = kind == "AUTO" or any(
        name == device or (device == kind and name.split(".")[0] == kind) for name in available
    )
    if kind not in DEVICE_KINDS or not offered:
        raise OnnxExportError(
            f"openvino_device {requested!r} is not offered by OpenVINO here (it offers "
            f"{', '.join([*available, 'AUTO'])}; GPUs and NPUs need Intel's drivers)"
        )
    return device


def choose_precision(requested: str, device: str, capabilities: Sequence[str]) -> tuple[str, str]:
    """The precision the graphs run in (``fp32`` or ``bf16``) and why, from the device's
    optimization capabilities (``BF16`` where it has bf16 units)."""
    has_bf16 = "BF16" in capabilities
    if requested == "auto":
        if has_bf16:
            return "bf16", f"bf16: auto, OpenVINO's {device} has bf16 units"
        return "fp32", f"fp32: auto, OpenVINO's {device} has no bf16 units"
    if requested == "bf16" and not has_bf16:
        raise OnnxExportError(
            f"precision bf16: OpenVINO's {device} has no bf16 units (its capabilities: "
            f"{', '.join(capabilities) or 'unknown'}); use precision auto or fp32"
        )
    return requested, f"{requested}: requested"


def install_openvino(
    sam: nn.Module,
    onnx_dir: str | Path,
    model_cfg: str,
    fingerprint: str,
    precision: str = "auto",
    device: str = "CPU",
    cache_dir: Path | None = None,
) -> tuple[GraphBackend, str, str]:
    """Check the export in ``onnx_dir`` against the model and run its graphs on OpenVINO's
    ``device`` in place of the components' methods; (backend, precision in effect, why)."""
    import openvino as ov

    directory = Path(onnx_dir)
    manifest = read_export(directory, model_cfg, int(sam.image_size), fingerprint)
    core = ov.Core()
    chosen = choose_device(device, core.available_devices)
    try:
        capabilities = list(core.get_property(chosen, "OPTIMIZATION_CAPABILITIES"))
    except RuntimeError:  # virtual devices (AUTO) have no capabilities of their own
        capabilities = []
    in_effect, reason = choose_precision(precision, chosen, capabilities)
    cache = cache_dir or default_openvino_cache_dir()
    config = {
        "INFERENCE_PRECISION_HINT": HINTS[in_effect],
        "PERFORMANCE_HINT": "LATENCY",
        "CACHE_DIR": str(cache),
    }
    if chosen == "CPU":
        # Torch runs SAM 2's glue between the graphs on the same cores, with its own threads:
        # as many OpenVINO threads as torch's, not pinned to cores torch's threads also use.
        config["INFERENCE_NUM_THREADS"] = torch.get_num_threads()
        config["ENABLE_CPU_PINNING"] = False
    runners = {}
    for component in COMPONENTS:
        spec = manifest.graphs[component.name]
        path = directory / spec.file
        # Compiled from the model read, not from the file: OpenVINO keys the cache by the model's
        # content then (by the file's path otherwise: a graph exported again in place would be
        # served stale, and every new path would add a compiled model to the cache).
        try:
            compiled = core.compile_model(core.read_model(str(path)), chosen, config)
        except RuntimeError as err:
            raise OnnxExportError(
                f"openvino cannot load {path} on {chosen}: {str(err).strip().splitlines()[0]}"
            ) from err
        runners[component.name] = _RequestRunner(compiled, spec)
    install_graphs(sam, runners)
    target = f"{chosen}, {HINTS[in_effect]}"
    offered = (
        f"OpenVINO {ov.get_version().split('-')[0]} offers {', '.join(core.available_devices)}"
    )
    return GraphBackend("openvino", directory, target, offered), in_effect, reason


class _RequestRunner(GraphRunner):
    """An OpenVINO infer request reading and writing torch tensors' memory."""

    def __init__(self, compiled, spec: GraphSpec) -> None:
        super().__init__(
            spec,
            [_name(port, spec.inputs) for port in compiled.inputs],
            [_name(port, spec.outputs) for port in compiled.outputs],
            torch.device("cpu"),
        )
        self._request = compiled.create_infer_request()

    def run(self, inputs: list[torch.Tensor], outputs: list[torch.Tensor]) -> None:
        import openvino as ov

        request = self._request
        for index, x in enumerate(inputs):
            request.set_input_tensor(index, ov.Tensor(x.numpy(), shared_memory=True))
        for index, y in enumerate(outputs):
            request.set_output_tensor(index, ov.Tensor(y.numpy(), shared_memory=True))
        request.infer()


def _name(port, declared: dict) -> str:
    """The name the export declares for ``port`` (OpenVINO may know a tensor by several)."""
    return next(name for name in sorted(port.get_names()) if name in declared)
