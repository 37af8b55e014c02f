"""The repository's own tools: generators of checked-in pages. Not in the distribution."""
