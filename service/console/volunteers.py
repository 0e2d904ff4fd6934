"""Console pages: volunteers (being built)."""
