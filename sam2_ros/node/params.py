"""The node's parameters on ROS: declared with their descriptions, read once and validated."""

from __future__ import annotations

from rcl_interfaces.msg import ParameterDescriptor
from rclpy.node import Node

from sam2_ros.tracking.parameters import PARAMETERS, NodeParams, parse


def descriptor(name: str) -> ParameterDescriptor:
    """The parameter's description. Types are checked when the node configures (not when a
    value is set), so a bad value fails ``configure`` with a clear message instead of
    killing the node."""
    return ParameterDescriptor(name=name, description=PARAMETERS[name][1], dynamic_typing=True)


def declare_parameters(node: Node) -> None:
    """Declare every parameter with its default and description."""
    for name, (default, _) in PARAMETERS.items():
        node.declare_parameter(name, default, descriptor(name))


def read_parameters(node: Node) -> NodeParams:
    """The node's parameter values, validated (:class:`ParameterError` naming a bad one)."""
    return parse({name: node.get_parameter(name).value for name in PARAMETERS})
