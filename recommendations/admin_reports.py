"""Admin of follow-up report runs (filled in with the reporting services)."""
