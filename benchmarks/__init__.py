"""Benchmark runner and micro-benchmarks of skdomainclust (not part of the installed package)."""
