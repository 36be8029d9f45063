"""Test helpers shared by suites (the replay HTTP server, a database that never answers)."""
