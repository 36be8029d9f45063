"""The house plan holds: pure packages never reach storage, sources never reach up.

Each module's imports are read from its source (ast), and followed through the
modules of ohmycoins they name, so an indirect path (a source importing a helper
that imports storage) is caught as well as a direct one.
"""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

import pytest

import ohmycoins

ROOT = Path(ohmycoins.__file__).resolve().parent


def _module_path(module: str) -> Path | None:
    """The file of an ohmycoins module (package `__init__` or plain module), if any."""
    parts = module.split(".")[1:]
    base = ROOT.joinpath(*parts)
    for candidate in (base / "__init__.py", base.with_suffix(".py")):
        if candidate.is_file():
            return candidate
    return None


def _package_of(module: str, path: Path) -> str:
    return module if path.name == "__init__.py" else module.rpartition(".")[0]


@cache
def _direct_imports(module: str) -> frozenset[str]:
    """Every module name `module` imports (absolute, relative ones resolved)."""
    path = _module_path(module)
    if path is None:
        return frozenset()
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = _package_of(module, path).split(".")
                anchor = ".".join(package[: len(package) - node.level + 1])
                base = f"{anchor}.{base}" if base else anchor
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return frozenset(names)


def _reached(package: str) -> dict[str, str]:
    """Every module reached from the modules of `package`, with one importer of each."""
    start = [
        f"ohmycoins.{package}.{path.stem}" if path.stem != "__init__" else f"ohmycoins.{package}"
        for path in sorted((ROOT / package).glob("*.py"))
    ]
    seen: dict[str, str] = {name: name for name in start}
    todo = list(start)
    while todo:
        current = todo.pop()
        for name in _direct_imports(current):
            if name in seen:
                continue
            seen[name] = current
            if name.startswith("ohmycoins.") and _module_path(name) is not None:
                todo.append(name)
    return seen


def _forbidden(reached: dict[str, str], banned: tuple[str, ...]) -> list[str]:
    return sorted(
        f"{importer} -> {name}"
        for name, importer in reached.items()
        if any(name == ban or name.startswith(f"{ban}.") for ban in banned)
    )


PURE_BANS = (
    "sqlalchemy",
    "ohmycoins.storage",
    "ohmycoins.collectors",
    "ohmycoins.scheduling",
)


@pytest.mark.parametrize("package", ["enrich", "quality"])
def test_pure_packages_never_reach_storage(package: str) -> None:
    assert _forbidden(_reached(package), PURE_BANS) == []


def test_sources_never_reach_up() -> None:
    banned = (
        "ohmycoins.scheduling",
        "ohmycoins.collectors",
        "ohmycoins.storage",
        "ohmycoins.api",
    )
    assert _forbidden(_reached("sources"), banned) == []


def test_the_walk_sees_a_forbidden_import() -> None:
    """The check itself can fail: storage's own modules reach sqlalchemy."""
    assert _forbidden(_reached("storage"), ("sqlalchemy",)) != []


def test_collector_modules_never_import_the_default_list() -> None:
    """`defaults` composes the collector modules; only the service above it reads it."""
    importers = sorted(
        path.stem
        for path in (ROOT / "collectors").glob("*.py")
        if "ohmycoins.collectors.defaults" in _direct_imports(f"ohmycoins.collectors.{path.stem}")
    )
    assert importers == ["service"]


SQL_CALL = re.compile(r"\b(select|text|insert|update|delete|func)\(|\.execute\(")


@pytest.mark.parametrize("path", sorted((ROOT / "collectors").glob("*.py")), ids=lambda p: p.stem)
def test_collectors_hold_no_sql(path: Path) -> None:
    """Reads and writes live in storage (`storage.reads`, `storage.cursors`); a collector
    takes only the `Connection` type from sqlalchemy, for the hooks of a transaction."""
    source = path.read_text()
    from_sqlalchemy: set[str] = set()
    for node in ast.walk(ast.parse(source, str(path))):
        if isinstance(node, ast.Import):
            assert not [a.name for a in node.names if a.name.split(".")[0] == "sqlalchemy"]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "sqlalchemy":
            assert node.module == "sqlalchemy", node.module
            from_sqlalchemy.update(alias.name for alias in node.names)
    assert from_sqlalchemy <= {"Connection"}
    assert SQL_CALL.findall(source) == []


def test_the_sql_check_sees_sql() -> None:
    """The check itself can fail: a storage read holds SQL."""
    assert SQL_CALL.findall((ROOT / "storage" / "cursors.py").read_text()) != []


# --- every database dialect branch lives in storage/dialects/ ------------------------

BACKEND_NAMES = frozenset({"sqlite", "postgresql", "postgres", "mysql", "mariadb"})
DRIVER_MODULES = ("sqlalchemy.dialects", "psycopg", "sqlite3")
DIALECT_HOMES = (ROOT / "storage" / "dialects", ROOT / "storage" / "migrations")


def _dialect_branches(source: str) -> list[str]:
    """What in `source` names a backend: a comparison with, or a mapping keyed by, a
    backend's name; `dialect.name` or `get_backend_name()`; a driver's import."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
            names += [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            if isinstance(node, ast.ImportFrom) and node.module == "sqlalchemy":
                names += [f"sqlalchemy.{alias.name}" for alias in node.names]
            for name in names:
                if any(name == ban or name.startswith(f"{ban}.") for ban in DRIVER_MODULES):
                    found.append(f"{line}: imports {name}")
        elif isinstance(node, ast.Compare | ast.Dict):
            parts = [node.left, *node.comparators] if isinstance(node, ast.Compare) else node.keys
            if any(_backend_name(part) for part in parts):
                found.append(f"{line}: names a backend")
        elif isinstance(node, ast.Attribute):
            dialect_name = node.attr == "name" and _named(node.value, "dialect")
            if dialect_name or node.attr == "get_backend_name":
                found.append(f"{line}: reads {node.attr}")
    return found


def _backend_name(node: ast.expr | None) -> bool:
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return any(_backend_name(element) for element in node.elts)
    return isinstance(node, ast.Constant) and node.value in BACKEND_NAMES


def _named(node: ast.expr, name: str) -> bool:
    return isinstance(node, ast.Attribute | ast.Name) and (
        (node.attr if isinstance(node, ast.Attribute) else node.id) == name
    )


def test_only_storage_dialects_branches_on_the_database() -> None:
    """A third backend is one module in storage/dialects/: no other module (the
    migrations aside) compares a backend's name or imports a driver."""
    branches = {
        str(path.relative_to(ROOT)): found
        for path in sorted(ROOT.rglob("*.py"))
        if not any(path.is_relative_to(home) for home in DIALECT_HOMES)
        if (found := _dialect_branches(path.read_text()))
    }
    assert branches == {}


@pytest.mark.parametrize(
    "source",
    [
        'if conn.dialect.name == "sqlite": pass',
        'postgres = db.dialect == "postgresql"',
        'TEMPLATES = {"sqlite": "json_each", "postgresql": "json_array_elements"}',
        "if url.get_backend_name() != other: pass",
        "from sqlalchemy.dialects import postgresql",
        "from sqlalchemy import dialects",
        "import psycopg",
        "import sqlite3",
        'if db.dialect in ("sqlite", "mysql"): pass',
    ],
)
def test_the_dialect_check_sees_a_branch(source: str) -> None:
    assert _dialect_branches(source) != []


def test_the_dialect_check_leaves_backend_neutral_code() -> None:
    source = 'backend = dialect_for(conn)\nif backend.autocommit_statements: name = "sqlite"'
    assert _dialect_branches(source) == []
