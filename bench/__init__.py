"""Benchmarks: each module prints its figures with the ratio to a reference measured in the
same run and appends them to bench/RESULTS.md. See README "Benchmarks"."""
