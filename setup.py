"""Python packaging of sam2_ros's hand-written modules and its console commands.

The ROS package itself builds with ament_cmake (CMakeLists.txt): that generates the interfaces
(``sam2_ros.msg``/``sam2_ros.srv``) and installs these modules beside them. This file adds the
``sam2-ros`` and ``sam2_node`` console commands to a pip environment (``make setup`` uses it).
"""

from setuptools import find_packages, setup

setup(
    name="sam2_ros",
    version="0.1.0",
    description="Streaming SAM 2 video segmentation for ROS 2",
    license="Apache-2.0",
    packages=find_packages(include=["sam2_ros", "sam2_ros.*"]),
    python_requires=">=3.10",
    entry_points={
        "console_scripts": [
            "sam2-ros = sam2_ros.commands.cli:main",
            "sam2_node = sam2_ros.node.sam2_node:main",
        ]
    },
)
