"""Knowledge pipeline building blocks: sniff → extract → chunk → enrich → embed → index.

Everything here is Flask-free and DB-free so jobs, the API and the benchmarks can share it and
tests can drive it with real files.
"""
