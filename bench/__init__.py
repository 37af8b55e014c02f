"""Benchmarks for issue 5: cold start, warm per-request CPU, local load; `python -m bench --help`.

Imports nothing: a cold-start child process imports this package inside its timed region.
"""
