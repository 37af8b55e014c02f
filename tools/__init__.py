"""The repository's own tools, run as `python -m tools.<name>`: generators of checked-in pages
(docs/components.md, docs/api.html). Not in the distribution, not deployed."""
