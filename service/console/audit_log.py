"""Console pages: audit_log (being built)."""
