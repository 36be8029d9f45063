"""Test helpers shared by suites (the replay HTTP server)."""
