"""Fail loudly when CI's PostgreSQL or Redis does not answer: in CI they never skip."""

import os
import sys

import psycopg
import redis


def main() -> int:
    failures = []
    try:
        with psycopg.connect(os.environ["OMC_TEST_POSTGRES_URL"], connect_timeout=5) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:  # noqa: BLE001 - any failure is reported the same way
        failures.append(f"PostgreSQL at OMC_TEST_POSTGRES_URL does not answer: {exc}")
    try:
        redis.Redis.from_url(os.environ["OMC_TEST_REDIS_URL"], socket_timeout=5).ping()
    except Exception as exc:  # noqa: BLE001
        failures.append(f"Redis at OMC_TEST_REDIS_URL does not answer: {exc}")
    for failure in failures:
        print(f"CI: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
