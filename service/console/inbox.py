"""Console pages: inbox (being built)."""
