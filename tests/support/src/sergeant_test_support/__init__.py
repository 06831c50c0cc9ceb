"""Helpers shared by sergeant's test suites (not part of any published distribution)."""
