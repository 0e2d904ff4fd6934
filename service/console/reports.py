"""Console pages: reports (being built)."""
