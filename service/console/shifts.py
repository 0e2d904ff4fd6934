"""Console pages: shifts (being built)."""
