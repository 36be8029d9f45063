"""Collectors: each runs one collection end to end — fetch, parse, check, store, publish."""
