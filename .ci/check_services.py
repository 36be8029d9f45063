"""Fail loudly when CI's PostgreSQL, MariaDB or Redis does not answer: in CI they never
skip. Each failure is one line naming the variable and the server's own words."""

import os
import sys

import MySQLdb
import psycopg
import redis
from sqlalchemy import make_url


def main() -> int:
    failures = []
    try:
        with psycopg.connect(os.environ["OMC_TEST_POSTGRES_URL"], connect_timeout=5) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:  # noqa: BLE001 - any failure is reported the same way
        failures.append(f"PostgreSQL at OMC_TEST_POSTGRES_URL does not answer: {exc}")
    try:
        url = make_url(os.environ["OMC_TEST_MYSQL_URL"])
        conn = MySQLdb.connect(
            host=url.host or "127.0.0.1",
            port=url.port or 3306,
            user=url.username or "root",
            password=url.password or "",
            database=url.database or "",
            connect_timeout=5,
        )
        conn.cursor().execute("SELECT 1")
        conn.close()
    except Exception as exc:  # noqa: BLE001
        failures.append(f"MariaDB at OMC_TEST_MYSQL_URL does not answer: {exc}")
    try:
        redis.Redis.from_url(os.environ["OMC_TEST_REDIS_URL"], socket_timeout=5).ping()
    except Exception as exc:  # noqa: BLE001
        failures.append(f"Redis at OMC_TEST_REDIS_URL does not answer: {exc}")
    for failure in failures:
        print(f"CI: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
