"""``sam2-ros bench``: its modes (one table in :mod:`.command`) and what each times."""
