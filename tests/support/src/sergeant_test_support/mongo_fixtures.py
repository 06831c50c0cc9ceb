"""pytest fixtures for real mongo servers (filled in by the mongo backend work)."""
