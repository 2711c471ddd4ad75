"""The node on each graph backend (ONNX Runtime, OpenVINO) refuses, at configure, an export that
does not fit (and ``compile`` with it; on OpenVINO a device it does not offer), saying why and
staying unconfigured and alive; a fitting one configures, and /diagnostics names the backend.
(Tracking on it: the two-camera scenario, parametrised.)"""

from __future__ import annotations

import shutil

import pytest
from conftest import set_parameter, start_node
from diagnostic_msgs.msg import DiagnosticArray


@pytest.fixture(scope="module", params=["onnxruntime", "openvino"])
def graph_node(request, client, tmp_path_factory, small_onnx_dir):
    """(the node process on the backend, its name)."""
    name = f"sam2_{request.param}"
    process = start_node(
        tmp_path_factory, name, backend=request.param, onnx_dir=str(small_onnx_dir)
    )
    yield process, name
    process.stop()


@pytest.fixture
def refused(client, graph_node, small_onnx_dir):
    """Set parameters, configure (which must fail), give the log's new lines; then put the
    fitting parameters back."""
    changed = []
    process, node = graph_node

    def configure_with(**params) -> str:
        before = len(process.log())
        for name, value in params.items():
            set_parameter(client, node, name, value)
            changed.append(name)
        assert not client.transition(node, "configure")
        assert client.state(node) == "unconfigured"
        return process.log()[before:]

    yield configure_with
    defaults = {
        "seed": 0,
        "image_size": 128,
        "model_cfg": "configs/sam2.1/sam2.1_hiera_t.yaml",
        "onnx_dir": str(small_onnx_dir),
        "compile": "none",
        "openvino_device": "CPU",
    }
    for name in changed:
        set_parameter(client, node, name, defaults[name])


def test_other_weights_are_refused(refused):
    assert "weights fingerprint" in refused(seed=1)


def test_other_image_size_is_refused(refused):
    assert "image size 128 px (this model: 256 px)" in refused(image_size=256)


def test_other_config_is_refused(refused):
    log = refused(model_cfg="configs/sam2/sam2_hiera_t.yaml")
    assert "model config configs/sam2.1/sam2.1_hiera_t.yaml" in log


def test_truncated_graph_is_refused(refused, small_onnx_dir, tmp_path):
    copy = tmp_path / "export"
    shutil.copytree(small_onnx_dir, copy)
    graph = copy / "image_encoder.onnx"
    graph.write_bytes(graph.read_bytes()[:1000])
    assert "image_encoder.onnx is not the file exported" in refused(onnx_dir=str(copy))


def test_compile_is_refused(refused):
    assert "compile default applies to the torch backend only" in refused(compile="default")


@pytest.mark.parametrize("graph_node", ["openvino"], indirect=True)
def test_unoffered_openvino_device_is_refused(refused):
    assert "openvino_device 'NPU' is not offered by OpenVINO here" in refused(openvino_device="NPU")


def test_fitting_export_configures_and_is_reported(client, graph_node):
    process, node = graph_node
    backend = node.removeprefix("sam2_")
    described = {"onnxruntime": "onnxruntime (CPU; auto:", "openvino": "openvino (CPU, "}[backend]
    assert client.transition(node, "configure"), process.log()[-2000:]
    assert f"backend {described}" in process.log()
    diagnostics = client.collect(DiagnosticArray, "/diagnostics")

    def reported(arrays) -> bool:
        return any(
            value.key == "backend" and value.value.startswith(described)
            for array in arrays
            for status in array.status
            if status.name == f"{node}: camera"
            for value in status.values
        )

    assert client.transition(node, "activate")
    assert diagnostics.wait_for(reported, timeout=30)
