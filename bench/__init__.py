"""Benchmarks of HandsUp's hot paths (see bench/README.md); not part of the installed package."""
