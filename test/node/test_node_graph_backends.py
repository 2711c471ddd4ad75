"""The node on the ONNX Runtime backend refuses, at configure, an export that does not fit (and
``compile`` with it), saying why and staying unconfigured and alive; a fitting one configures,
and /diagnostics names the backend. (Tracking on it: the two-camera scenario, parametrised.)"""

from __future__ import annotations

import shutil

import pytest
from conftest import set_parameter, start_node
from diagnostic_msgs.msg import DiagnosticArray

NODE = "sam2_onnxruntime"


@pytest.fixture(scope="module")
def ort_node(client, tmp_path_factory, small_onnx_dir):
    process = start_node(
        tmp_path_factory, NODE, backend="onnxruntime", onnx_dir=str(small_onnx_dir)
    )
    yield process
    process.stop()


@pytest.fixture
def refused(client, ort_node, small_onnx_dir):
    """Set parameters, configure (which must fail), give the log's new lines; then put the
    fitting parameters back."""
    changed = []

    def configure_with(**params) -> str:
        before = len(ort_node.log())
        for name, value in params.items():
            set_parameter(client, NODE, name, value)
            changed.append(name)
        assert not client.transition(NODE, "configure")
        assert client.state(NODE) == "unconfigured"
        return ort_node.log()[before:]

    yield configure_with
    defaults = {
        "seed": 0,
        "image_size": 128,
        "model_cfg": "configs/sam2.1/sam2.1_hiera_t.yaml",
        "onnx_dir": str(small_onnx_dir),
        "compile": "none",
    }
    for name in changed:
        set_parameter(client, NODE, name, defaults[name])


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


def test_fitting_export_configures_and_is_reported(client, ort_node):
    assert client.transition(NODE, "configure"), ort_node.log()[-2000:]
    assert "backend onnxruntime (CPU; auto:" in ort_node.log()
    diagnostics = client.collect(DiagnosticArray, "/diagnostics")

    def reported(arrays) -> bool:
        return any(
            value.key == "backend" and value.value.startswith("onnxruntime (CPU")
            for array in arrays
            for status in array.status
            if status.name == f"{NODE}: camera"
            for value in status.values
        )

    assert client.transition(NODE, "activate")
    assert diagnostics.wait_for(reported, timeout=30)
