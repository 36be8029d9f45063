"""Scheduling: rate limits, retries, circuit breakers, the persistent schedule."""
