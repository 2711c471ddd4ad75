"""``sam2-ros bag``: one bag annotated (its cameras, prompts file, depth, settings)."""
