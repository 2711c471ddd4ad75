"""The node's decisions, without ROS: its parameters validated, which tracked frame a stamp names,
which depth image pairs with a frame, the one thread that runs the model, per-camera statistics
and where saved objects live. Everything here is tested without a ROS graph."""
