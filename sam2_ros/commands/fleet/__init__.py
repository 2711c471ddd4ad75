"""``sam2-ros bags``: a fleet's bags annotated (the plan, a worker, Ray actors)."""
