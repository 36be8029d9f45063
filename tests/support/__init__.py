"""Test helpers shared by suites: the replay HTTP server, servers in a thread, a database
that never answers, CLI checks."""
