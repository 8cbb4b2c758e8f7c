"""Dependencies point one way: feeder.cli -> jobs -> feeder -> db; each library has one home."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("db", "feeder", "jobs")


def loaded_after_import(module: str) -> set[str]:
    code = f"import json, sys; import {module}; print(json.dumps(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True
    )
    return {name.split(".")[0] for name in json.loads(done.stdout)} | set(json.loads(done.stdout))


@pytest.mark.parametrize(
    ("module", "forbidden"),
    [
        ("feeder", {"apscheduler", "click", "jobs", "feeder.cli"}),
        ("db", {"feeder", "feedgen", "jobs", "click", "apscheduler"}),
        ("jobs", {"click", "feeder.cli"}),
        # What a worker process of a full build imports: no database machinery.
        ("feeder.publishing.rendering", {"sqlalchemy", "alembic", "click", "jobs"}),
    ],
)
def test_importing_a_layer_does_not_load_the_layers_above(module: str, forbidden: set[str]) -> None:
    loaded = loaded_after_import(module)
    assert module in loaded
    assert not forbidden & loaded, f"import {module} loaded {sorted(forbidden & loaded)}"


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports, with relative imports resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = ".".join(path.relative_to(REPO).with_suffix("").parts[:-1])
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def _sources() -> dict[str, set[str]]:
    sources = {}
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            sources[str(path.relative_to(REPO))] = _imports(path)
    assert "feeder/publishing/render/rss.py" in sources and "db/models.py" in sources
    return sources


def _uses(imports: set[str], top: str) -> bool:
    return any(name == top or name.startswith(top + ".") for name in imports)


@pytest.mark.parametrize(
    ("library", "home"),
    [
        ("feedgen", "feeder/publishing/render/"),
        ("apscheduler", "jobs/"),
        ("click", "feeder/cli/"),
        ("uvicorn", "feeder/server/"),
        ("starlette", "feeder/server/"),
        ("alembic", "db/"),
        ("nh3", "feeder/_content.py"),
        ("feedparser", "feeder/importing/"),
        ("markdown_it", "feeder/importing/"),
    ],
)
def test_each_library_is_imported_only_in_its_home(library: str, home: str) -> None:
    offenders = [path for path, imports in _sources().items() if _uses(imports, library)]
    assert [path for path in offenders if not path.startswith(home)] == []


def test_nothing_imports_the_cli() -> None:
    offenders = [
        path
        for path, imports in _sources().items()
        if _uses(imports, "feeder.cli") and not path.startswith("feeder/cli/")
    ]
    assert offenders == []


def test_db_imports_nothing_from_feeder_or_jobs() -> None:
    offenders = {
        path: sorted(i for i in imports if _uses({i}, "feeder") or _uses({i}, "jobs"))
        for path, imports in _sources().items()
        if path.startswith("db/")
    }
    assert {p: i for p, i in offenders.items() if i} == {}


def test_feeder_imports_jobs_only_from_the_cli() -> None:
    offenders = [
        path
        for path, imports in _sources().items()
        if path.startswith("feeder/")
        and not path.startswith("feeder/cli/")
        and _uses(imports, "jobs")
    ]
    assert offenders == []


def test_the_scan_sees_relative_imports() -> None:
    # The checks above are only as good as the import scanner.
    probe = REPO / "feeder" / "publishing" / "render" / "_common.py"
    assert "feedgen.feed" in _imports(probe)
    assert "feeder.entries" in _imports(probe)


# What may be imported outside db/ from SQLAlchemy: nothing. Storage hands out
# plain records and raises its own errors (db.errors).
def test_only_db_speaks_sql() -> None:
    offenders = {
        path: sorted(i for i in imports if _uses({i}, "sqlalchemy"))
        for path, imports in _sources().items()
        if not path.startswith("db/")
    }
    assert {p: i for p, i in offenders.items() if i} == {}
