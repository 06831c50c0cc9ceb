"""pytest fixtures for real redis servers (filled in by the redis backend work)."""
