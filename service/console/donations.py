"""Console pages: donations (being built)."""
