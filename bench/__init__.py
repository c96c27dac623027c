"""Benchmarks: component vs the same raw resources, as ratios measured in one run."""
