"""The repository's own maintenance tools (not shipped, not deployed): `python -m tools.<name>`."""
