"""Console pages: messages (being built)."""
