"""The robot install path: ``colcon build`` in a workspace, then the node from its install space.

The package is copied into a fresh workspace and built with colcon (from the package registry, in
this environment) against this environment's ROS prefix, as a robot user does after sourcing ROS.
The test then checks that every file the package ships is in the install space, starts
``install/sam2_ros/lib/sam2_ros/sam2_node`` after ``source install/setup.bash`` and brings it to
``active`` through the lifecycle services, and receives masks for a published frame.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO_ROOT
from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
from rcl_interfaces.srv import SetParameters
from sam2_ros.msg import ObjectMasks
from sensor_msgs.msg import Image
from std_msgs.msg import Header

from sam2_ros.commands.harness.node_client import NodeProcess
from sam2_ros.messages.images import array_to_image_msg

pytestmark = pytest.mark.slow

NODE = "sam2_installed"
PACKAGE = "sam2_ros"
SHARED_FOLDERS = ("launch", "config", "model")
NOT_SOURCES = {".venv", ".venv-jazzy", "build", "install", "log", ".git", "demo_output"}


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def expected_install_files(source: Path) -> list[str]:
    """Every file the install space must hold, derived from the package's sources."""
    python = f"lib/python{sys.version_info.major}.{sys.version_info.minor}/site-packages/{PACKAGE}"
    files = [
        f"lib/{PACKAGE}/sam2_node",
        f"lib/{PACKAGE}/sam2-ros",
        f"share/ament_index/resource_index/packages/{PACKAGE}",
        f"share/{PACKAGE}/package.xml",
        f"{python}/__init__.py",
    ]
    for folder in SHARED_FOLDERS:
        files += [
            f"share/{PACKAGE}/{path.relative_to(source)}"
            for path in sorted((source / folder).rglob("*"))
            if path.is_file() and path.suffix != ".pt"
        ]
    for kind in ("msg", "srv"):
        for path in sorted((source / kind).glob(f"*.{kind}")):
            files += [
                f"share/{PACKAGE}/{kind}/{path.name}",
                f"{python}/{kind}/_{_snake(path.stem)}.py",
            ]
    files += [
        f"{python}/{path.relative_to(source / PACKAGE)}"
        for path in sorted((source / PACKAGE).rglob("*.py"))
    ]
    return files


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    """A colcon workspace with the package built and installed."""
    root = tmp_path_factory.mktemp("ws")
    shutil.copytree(
        REPO_ROOT,
        root / "src" / PACKAGE,
        ignore=lambda _, names: [
            n for n in names if n in NOT_SOURCES or n == "__pycache__" or n.endswith(".pt")
        ],
    )
    prefix = Path(sys.prefix)
    env = dict(
        os.environ,
        PATH=f"{prefix / 'bin'}{os.pathsep}{os.environ['PATH']}",
        VIRTUAL_ENV=str(prefix),  # as `source .venv/bin/activate`
        AMENT_PREFIX_PATH=str(prefix),  # the ROS prefix, as after sourcing ROS
        CMAKE_PREFIX_PATH=str(prefix),
    )
    build = subprocess.run(
        [
            str(prefix / "bin" / "colcon"),
            "build",
            "--packages-select",
            PACKAGE,
            "--cmake-args",
            "-DBUILD_TESTING=OFF",
        ],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    return root


def test_install_space_holds_every_shipped_file(workspace):
    install = workspace / "install" / PACKAGE
    expected = expected_install_files(workspace / "src" / PACKAGE)
    assert any(f.startswith(f"share/{PACKAGE}/launch/") for f in expected)
    missing = [f for f in expected if not (install / f).is_file()]
    assert not missing, f"not installed: {missing}"
    assert os.access(install / "lib" / PACKAGE / "sam2_node", os.X_OK)
    # interfaces/vision_msgs is the pip environment's stand-in: a workspace never builds it
    assert sorted(p.name for p in (workspace / "install").iterdir() if p.is_dir()) == [PACKAGE]


def _set(client, name: str, value: bool) -> None:
    parameter = Parameter(
        name=name, value=ParameterValue(type=ParameterType.PARAMETER_BOOL, bool_value=value)
    )
    request = SetParameters.Request(parameters=[parameter])
    assert client.call(SetParameters, f"/{NODE}/set_parameters", request).results[0].successful


def test_installed_node_runs_from_the_install_space(client, workspace, tmp_path, scene):
    install = workspace / "install" / PACKAGE
    node = NodeProcess(
        NODE,
        {"image_size": 128, "camera_names": ["cam"], "image_topics": ["/installed/image_raw"]},
        tmp_path / "node.log",
        cwd=workspace,
        command=[
            "bash",
            "-c",
            'source install/setup.bash && exec "$0" "$@"',
            f"install/{PACKAGE}/lib/{PACKAGE}/sam2_node",
        ],
    )
    try:
        masks = client.collect(ObjectMasks, f"/{NODE}/cam/masks")
        camera = client.publisher(Image, "/installed/image_raw")
        assert not client.transition(NODE, "configure")  # no checkpoint in the install space
        expected = install / "share" / PACKAGE / "model" / "sam2.1_hiera_tiny.pt"
        assert f"no checkpoint: expected {expected}" in node.log()
        _set(client, "allow_random_weights", True)
        client.bring_up(NODE)
        assert client.state(NODE) == "active"
        maps = Path(f"/proc/{node.process.pid}/maps").read_text()
        interfaces = {
            line.split()[-1] for line in maps.splitlines() if "rosidl_typesupport" in line
        }
        ours = {path for path in interfaces if f"{PACKAGE}_s__rosidl" in path}
        assert ours and all(path.startswith(str(install)) for path in ours), ours
        client.wait_for_subscriber(camera)
        header = Header(frame_id="cam_optical_frame")
        header.stamp.sec = 7
        camera.publish(array_to_image_msg(scene.frame(0), "rgb8", header))
        received = masks.wait_stamp(header)
        assert received.camera_name == "cam" and received.objects == []
    finally:
        node.stop()
