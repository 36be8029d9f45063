"""Test helpers shared by suites: the replay HTTP server, servers in a thread, CLI checks."""
