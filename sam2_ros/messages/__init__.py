"""Conversions between ROS messages and the pure layers (images, tracking results, objects in 3D,
diagnostics), shared by the node and the bag tool."""
