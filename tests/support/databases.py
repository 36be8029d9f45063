"""Whole databases for tests: a migrated database reused test after test, fresh
PostgreSQL databases (a restore needs an empty database, not a schema of a shared one)
and every table's rows, to compare."""

from __future__ import annotations

import contextlib
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, create_engine, inspect, make_url, select, table, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from ohmycoins.storage.database import Database, engine_url


@contextmanager
def fresh_postgres(server_url: str) -> Iterator[str]:
    """The URL of a new, empty database on the server of `server_url`, dropped after."""
    name = f"omc_t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(engine_url(server_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()


def table_rows(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, sorted, by table name."""
    with db.engine.connect() as conn:
        names = sorted(inspect(conn).get_table_names())
        rows: dict[str, list[tuple[Any, ...]]] = {}
        for name in names:
            columns = [column["name"] for column in inspect(conn).get_columns(name)]
            query = select(*(text(f'"{c}"') for c in columns)).select_from(table(name))
            rows[name] = sorted((tuple(row) for row in conn.execute(query)), key=repr)
    return rows


class ReusedDatabase(ABC):
    """One migrated database handed to test after test, emptied in between.

    Migrating takes seconds on PostgreSQL and MySQL: done for every test, it was most
    of the suite's time. A session migrates a pristine database once and works in a
    copy of it. Before each test but the first, the copy's rows are deleted. A test
    that changed the schema (retention dropping a month's partition) or left a lock
    behind is noticed, and the copy is made again from the pristine one."""

    def __init__(self, server_url: str) -> None:
        self.server_url = server_url
        self.admin = create_engine(engine_url(server_url), isolation_level="AUTOCOMMIT")
        self.pristine = f"t_{uuid.uuid4().hex[:12]}_pristine"
        self.name = f"t_{uuid.uuid4().hex[:12]}"
        self._create(self.pristine)
        migrated = Database(self._url(self.pristine))
        migrated.upgrade()
        migrated.dispose()
        self._copy()
        with self._connect() as conn:
            self.shape = (self._shape(conn), _revisions(conn))
        self.used = False

    def take(self) -> Database:
        """The database, holding no rows, its schema as migrated."""
        if self.used and not self._emptied():
            self._drop(self.name)
            self._copy()
        self.used = True
        return Database(self._url(self.name))

    def close(self) -> None:
        for name in (self.name, self.pristine):
            self._drop(name)
        self.admin.dispose()

    def _url(self, name: str) -> str:
        return make_url(self.server_url).set(database=name).render_as_string(hide_password=False)

    @contextmanager
    def _connect(self) -> Iterator[Connection]:
        engine = create_engine(engine_url(self._url(self.name)), poolclass=NullPool)
        try:
            with engine.begin() as conn:
                yield conn
        finally:
            engine.dispose()

    def _emptied(self) -> bool:
        """Delete every row; False when the schema or its revision changed, or a lock stood
        in the way."""
        try:
            with self._connect() as conn:
                if (self._shape(conn), _revisions(conn)) != self.shape:
                    return False
                self._empty(conn)
            return True
        except SQLAlchemyError:
            return False

    def _tables(self) -> list[str]:
        """The tables whose rows a test may have written (not the migrations' own)."""
        relations, _ = self.shape
        return [name for (name, kind) in relations if kind == "table" and name != MIGRATIONS]

    @abstractmethod
    def _create(self, name: str) -> None: ...

    @abstractmethod
    def _copy(self) -> None: ...

    @abstractmethod
    def _drop(self, name: str) -> None: ...

    @abstractmethod
    def _shape(self, conn: Connection) -> list[tuple[str, str]]: ...

    @abstractmethod
    def _empty(self, conn: Connection) -> None: ...


MIGRATIONS = "alembic_version"


def _revisions(conn: Connection) -> list[str]:
    """The revisions the database says it is at (a test may have moved them)."""
    return sorted(conn.execute(text(f"SELECT version_num FROM {MIGRATIONS}")).scalars())


class ReusedPostgres(ReusedDatabase):
    """PostgreSQL: the copy is `CREATE DATABASE … TEMPLATE`; emptied in one round trip."""

    def _create(self, name: str) -> None:
        with self.admin.connect() as conn:
            conn.execute(text(f"CREATE DATABASE {name}"))

    def _copy(self) -> None:
        with self.admin.connect() as conn:
            conn.execute(text(f"CREATE DATABASE {self.name} TEMPLATE {self.pristine}"))

    def _drop(self, name: str) -> None:
        with self.admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))

    def _shape(self, conn: Connection) -> list[tuple[str, str]]:
        """Every relation of the schema: partitions and indexes too."""
        rows = conn.execute(
            text(
                "SELECT c.relname, CASE WHEN c.relkind IN ('r', 'p') AND NOT c.relispartition"
                " THEN 'table' ELSE c.relkind::text END FROM pg_class c"
                " JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE n.nspname = 'public' ORDER BY 1"
            )
        )
        return [(str(name), str(kind)) for (name, kind) in rows]

    def _empty(self, conn: Connection) -> None:
        deletes = "; ".join(f"DELETE FROM {name}" for name in self._tables())
        conn.exec_driver_sql(f"SET LOCAL lock_timeout = '2s'; {deletes}")


class ReusedMysql(ReusedDatabase):
    """MySQL/MariaDB: the copy is each table `CREATE TABLE … LIKE` the pristine one."""

    def _create(self, name: str) -> None:
        with self.admin.connect() as conn:
            conn.execute(text(f"CREATE DATABASE {name} CHARACTER SET utf8mb4"))

    def _copy(self) -> None:
        self._create(self.name)
        with self.admin.connect() as conn:
            tables = conn.execute(text(f"SHOW TABLES FROM {self.pristine}")).scalars().all()
            for table_name in tables:
                conn.execute(
                    text(f"CREATE TABLE {self.name}.{table_name} LIKE {self.pristine}.{table_name}")
                )
            revision = f"{self.name}.{MIGRATIONS} SELECT * FROM {self.pristine}.{MIGRATIONS}"
            conn.execute(text(f"INSERT INTO {revision}"))

    def _drop(self, name: str) -> None:
        """Drop `name`, ending first the connections a test left open on it."""
        with self.admin.connect() as conn:
            ids = (
                conn.execute(
                    text("SELECT id FROM information_schema.processlist WHERE db = :db"),
                    {"db": name},
                )
                .scalars()
                .all()
            )
            for connection_id in ids:
                with contextlib.suppress(SQLAlchemyError):  # it may have ended meanwhile
                    conn.execute(text(f"KILL {int(connection_id)}"))
            conn.execute(text(f"DROP DATABASE IF EXISTS {name}"))

    def _shape(self, conn: Connection) -> list[tuple[str, str]]:
        names = conn.execute(text("SHOW TABLES")).scalars()
        return sorted((str(name), "table") for name in names)

    def _empty(self, conn: Connection) -> None:
        conn.execute(text("SET SESSION innodb_lock_wait_timeout = 2, lock_wait_timeout = 2"))
        for name in self._tables():
            conn.execute(text(f"DELETE FROM {name}"))
