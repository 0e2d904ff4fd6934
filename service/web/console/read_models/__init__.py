"""Read models for console pages: a fixed handful of queries per page, no writes, no Flask."""
