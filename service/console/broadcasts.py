"""Console pages: broadcasts (being built)."""
