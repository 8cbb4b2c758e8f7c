"""Shared fixtures: a controllable clock, databases (SQLite always, PostgreSQL when
FEEDER_TEST_POSTGRES_URL is set) and a ready site."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from feeder import Site

if TYPE_CHECKING:
    from tests.faults_support import ThrowawayPostgres

POSTGRES_URL = os.environ.get("FEEDER_TEST_POSTGRES_URL", "")
START = datetime(2026, 11, 26, 12, 0, 0, tzinfo=UTC)


class FakeClock:
    """A clock tests move by hand; calling it returns the current instant."""

    def __init__(self, start: datetime = START) -> None:
        self.value = start

    def __call__(self) -> datetime:
        return self.value

    def advance(self, **delta: float) -> datetime:
        self.value += timedelta(**delta)
        return self.value


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def _postgres_schema_url() -> Iterator[str]:
    if not POSTGRES_URL:
        pytest.skip("PostgreSQL not tested: FEEDER_TEST_POSTGRES_URL is not set")
    schema = "t_" + uuid.uuid4().hex[:12]
    admin = create_engine(POSTGRES_URL)
    try:
        with admin.begin() as connection:
            connection.execute(text(f"CREATE SCHEMA {schema}"))
    except Exception as exc:  # pragma: no cover - depends on the machine
        admin.dispose()
        pytest.skip(f"PostgreSQL at FEEDER_TEST_POSTGRES_URL is not reachable: {exc}")
    url = make_url(POSTGRES_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as connection:
            connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'feeder.db'}"
    else:
        yield from _postgres_schema_url()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL schema (skips where no server is configured)."""
    yield from _postgres_schema_url()


@pytest.fixture
def site_dir(tmp_path: Path) -> Path:
    return tmp_path / "site"


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new site's SQLite database, migrated once: copying it is far quicker."""
    directory = tmp_path_factory.mktemp("template")
    Site.init(directory, title="T", base_url="https://example.org/", clock=FakeClock()).close()
    return directory / "feeder.db"


def _from_template(database_url: str, template: Path) -> None:
    """Put a copy of the migrated template where a new SQLite site is about to go."""
    path = Path(database_url.removeprefix("sqlite:///"))
    if database_url.startswith("sqlite:///") and not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(template, path)


@pytest.fixture
def site(
    site_dir: Path, database_url: str, clock: FakeClock, sqlite_template: Path
) -> Iterator[Site]:
    """A new site on every backend, with a fixed clock."""
    _from_template(database_url, sqlite_template)
    with Site.init(
        site_dir,
        title="Test Site",
        base_url="https://example.org/blog/",
        author="Ann Author",
        id_authority="example.org",
        database_url=database_url,
        clock=clock,
    ) as opened:
        yield opened


@pytest.fixture
def pg_site(postgres_url: str, tmp_path: Path, clock: FakeClock) -> Iterator[Site]:
    """A new site on PostgreSQL only (for notifications and triggers)."""
    with Site.init(
        tmp_path / "pg",
        title="T",
        base_url="https://example.org/",
        database_url=postgres_url,
        clock=clock,
    ) as opened:
        yield opened


@pytest.fixture
def sqlite_site(site_dir: Path, clock: FakeClock, sqlite_template: Path) -> Iterator[Site]:
    """A new site on SQLite only (for tests about files, CLI and subprocesses)."""
    _from_template(f"sqlite:///{site_dir / 'feeder.db'}", sqlite_template)
    with Site.init(
        site_dir,
        title="Test Site",
        base_url="https://example.org/blog/",
        author="Ann Author",
        id_authority="example.org",
        clock=clock,
    ) as opened:
        yield opened


@pytest.fixture
def throwaway_postgres() -> Iterator[ThrowawayPostgres]:
    """A PostgreSQL server of the test's own (never the shared one on 5432), for outages."""
    from tests.faults_support import ThrowawayPostgres

    server = ThrowawayPostgres()
    try:
        server.init()
        server.start()
        yield server
    finally:
        server.cleanup()
