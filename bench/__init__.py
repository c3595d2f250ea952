"""Benchmarks: `python -m bench` (make bench). Prints a table and writes bench/results/*.json."""
