"""The commands on top of the node and the engine: ``sam2-ros`` (demo, bag, bench, check-model),
the client that drives a node process from outside, and the generated camera scene."""
