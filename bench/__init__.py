"""Benchmarks: numbers to look at, never assertions. Run them with `make bench`
(`python -m bench`); see bench/README.md for how to add one."""
