"""What tests, the demo and the benches share: the synthetic camera scene, the node as a
process and its client, the engine alone in a process, measuring helpers."""
