"""Benchmarks: `make bench` (run.py) on data made by generate.py; see benchmarks/README.md."""
