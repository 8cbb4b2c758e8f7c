"""feeder.toml, FEEDER_* variables and overrides: values, precedence and one-line errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from feeder import ConfigError
from feeder.config import Config, load
from feeder.errors import FeederError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "feeder.toml"
    path.write_text(text, encoding="utf-8")
    return path


FULL = """\
title = "My blog"
description = "Notes"
base_url = "https://example.org/blog"
language = "de"
id_authority = "example.org"
output_dir = "out"
max_items = 7
database_url = "sqlite:///data/site.db"
timezone = "Europe/Berlin"

[author]
name = "Ann"
email = "ann@example.org"

[schedule]
poll_interval = 0.5
rebuild_interval = 60
listen = false

[server]
host = "0.0.0.0"
port = 9000

[content]
max_content_bytes = 1000
max_title_chars = 20

[build]
processes = 2
"""


def test_every_key_is_read(tmp_path: Path) -> None:
    config = load(write(tmp_path, FULL), environ={})
    assert config.title == "My blog"
    assert config.description == "Notes"
    assert config.base_url == "https://example.org/blog/"  # a trailing slash is added
    assert config.language == "de"
    assert config.authority == "example.org"
    assert config.output_dir == tmp_path / "out"
    assert config.max_items == 7
    assert config.database_url == f"sqlite:///{tmp_path / 'data' / 'site.db'}"
    assert config.zone is not None and config.zone.key == "Europe/Berlin"
    assert (config.author.name, config.author.email) == ("Ann", "ann@example.org")
    assert config.schedule.poll_interval == 0.5
    assert config.schedule.rebuild_interval == 60.0
    assert config.schedule.listen is False
    assert (config.server.host, config.server.port) == ("0.0.0.0", 9000)
    assert config.content.max_content_bytes == 1000
    assert config.content.max_title_chars == 20
    assert config.build.processes == 2
    assert config.root == tmp_path.resolve()


def test_defaults(tmp_path: Path) -> None:
    config = load(write(tmp_path, 'title = "T"\n'), environ={})
    assert config.max_items == 50
    assert config.base_url == "http://127.0.0.1:8080/"
    # An IP address is no tag: authority.
    assert config.authority == "localhost"
    assert config.output_dir == tmp_path / "public"
    assert config.database_url == f"sqlite:///{tmp_path / 'feeder.db'}"
    assert config.feed_author == "T"
    assert config.zone is None
    assert config.schedule.listen is True
    assert config.build.processes == 4


def test_paths_are_relative_to_the_config_file_not_the_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = tmp_path / "site"
    site.mkdir()
    write(site, 'title = "T"\noutput_dir = "www"\ndatabase_url = "sqlite:///db/x.db"\n')
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    config = load("../site/feeder.toml", environ={})
    assert config.output_dir == site.resolve() / "www"
    assert config.database_url == f"sqlite:///{site.resolve() / 'db' / 'x.db'}"
    # A directory works as well as the file.
    assert load(site, environ={}).output_dir == site.resolve() / "www"


def test_environment_overrides_the_file_and_overrides_win(tmp_path: Path) -> None:
    path = write(tmp_path, FULL)
    env = {
        "FEEDER_MAX_ITEMS": "3",
        "FEEDER_SERVER_PORT": "9100",
        "FEEDER_DATABASE_URL": "postgresql+psycopg://u@h/db",
        "FEEDER_CONTENT_ALLOW_IFRAMES": "yes",
        "FEEDER_SCHEDULE_LISTEN": "on",
        "FEEDER_TITLE": "",  # empty variables are ignored
    }
    config = load(path, environ=env)
    assert config.max_items == 3
    assert config.server.port == 9100
    assert config.database_url == "postgresql+psycopg://u@h/db"
    assert config.content.allow_iframes is True
    assert config.schedule.listen is True
    assert config.title == "My blog"
    config = load(path, environ=env, overrides={"max_items": 4, "server.port": None})
    assert config.max_items == 4
    assert config.server.port == 9100


def test_feeder_config_variable_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, 'title = "From env"\n')
    assert load(environ={"FEEDER_CONFIG": str(path)}).title == "From env"


def test_config_is_frozen(tmp_path: Path) -> None:
    config = load(write(tmp_path, 'title = "T"\n'), environ={})
    with pytest.raises(AttributeError):
        config.title = "x"  # type: ignore[misc]


def test_websub_hubs_are_one_url_or_a_list_kept_in_order(tmp_path: Path) -> None:
    one = 'title = "T"\nwebsub_hub = "https://pubsubhubbub.appspot.com/"\n'
    assert load(write(tmp_path, one), environ={}).websub_hub == (
        "https://pubsubhubbub.appspot.com/",
    )
    several = (
        'title = "T"\nwebsub_hub = ["https://b.example/hub?site=1", "http://a.example/",'
        ' "https://b.example/hub?site=1"]\n'
    )
    assert load(write(tmp_path, several), environ={}).websub_hub == (
        "https://b.example/hub?site=1",  # the hub URL exactly as given, each once
        "http://a.example/",
    )
    env = {"FEEDER_WEBSUB_HUB": "https://a.example/, https://b.example/"}
    assert load(write(tmp_path, 'title = "T"\n'), environ=env).websub_hub == (
        "https://a.example/",
        "https://b.example/",
    )
    assert load(write(tmp_path, 'title = "T"\n'), environ={}).websub_hub == ()


def test_url_joins_base_url_and_path() -> None:
    config = Config(base_url="https://example.org/blog/")
    assert config.url("rss.xml") == "https://example.org/blog/rss.xml"
    assert config.url("/articles/a.html") == "https://example.org/blog/articles/a.html"


@pytest.mark.parametrize(
    ("text", "env", "names"),
    [
        ('title = "T"\nbogus = 1\n', {}, "'bogus'"),
        ('title = "T"\n[server]\nhots = "x"\n', {}, "'server.hots'"),
        ('title = "T"\nserver = 3\n', {}, "[server]"),
        ('title = ""\n', {}, "title"),
        ("title = 5\n", {}, "title"),
        ('title = "T"\nbase_url = "example.org/blog"\n', {}, "base_url"),
        ('title = "T"\nbase_url = "ftp://example.org/"\n', {}, "base_url"),
        ('title = "T"\nbase_url = "https://example.org/?q=1"\n', {}, "base_url"),
        ('title = "T"\nmax_items = 0\n', {}, "max_items"),
        ('title = "T"\nmax_items = "many"\n', {}, "max_items"),
        ('title = "T"\nmax_items = 2.5\n', {}, "max_items"),
        ('title = "T"\nmax_items = true\n', {}, "max_items"),
        ('title = "T"\nid_authority = "not a domain"\n', {}, "id_authority"),
        ('title = "T"\nid_authority = "10.0.0.1"\n', {}, "id_authority"),
        ('title = "T"\ntimezone = "Mars/Olympus"\n', {}, "timezone"),
        ('title = "T"\ndatabase_url = "nonsense"\n', {}, "database_url"),
        ('title = "T"\ndatabase_url = "mysql://u@h/db"\n', {}, "database_url"),
        ('title = "T"\ndatabase_url = "postgresql+psycopg3://u@h/db"\n', {}, "unknown driver"),
        ('title = "T"\n[server]\nmax_connections = 0\n', {}, "server.max_connections"),
        ('title = "T"\n[server]\nrequest_timeout = 0\n', {}, "server.request_timeout"),
        ('title = "T"\n[feeds]\nmax_bytes = 0\n', {}, "feeds.max_bytes"),
        ('title = "T"\n[feeds]\nformats = ["rss", "rdf"]\n', {}, "feeds.formats"),
        ('title = "T"\n[feeds]\nsummary_only = ["tag"]\n', {}, "feeds.summary_only"),
        ('title = "T"\n[feeds]\nstylesheet = "fancy"\n', {}, "feeds.stylesheet"),
        ('title = "T"\n[server]\nport = 70000\n', {}, "server.port"),
        ('title = "T"\n[schedule]\npoll_interval = 0\n', {}, "schedule.poll_interval"),
        ('title = "T"\n[schedule]\nrebuild_interval = -1\n', {}, "schedule.rebuild_interval"),
        ('title = "T"\n[content]\nmax_title_chars = 0\n', {}, "content.max_title_chars"),
        ('title = "T"\n[content]\nmax_content_bytes = 0\n', {}, "content.max_content_bytes"),
        ('title = "T"\n[content]\nallow_iframes = "perhaps"\n', {}, "content.allow_iframes"),
        ('title = "T"\n[schedule]\nlisten = "sometimes"\n', {}, "schedule.listen"),
        ('title = "T"\n', {"FEEDER_SCHEDULE_LISTEN": "2"}, "FEEDER_SCHEDULE_LISTEN"),
        ('title = "T"\n[build]\nprocesses = -1\n', {}, "build.processes"),
        ('title = "T"\n', {"FEEDER_BUILD_PROCESSES": "all"}, "FEEDER_BUILD_PROCESSES"),
        ('title = "T"\nlanguage = "English (UK)"\n', {}, "language"),
        ('title = "T"\n[author]\nemail = "ann at example"\n', {}, "author.email"),
        ('title = "T"\n[author]\nuri = "/about"\n', {}, "author.uri"),
        ('title = "T"\n', {"FEEDER_MAX_ITEMS": "lots"}, "FEEDER_MAX_ITEMS"),
        ('title = "T"\n', {"FEEDER_SERVER_PORT": "-5"}, "FEEDER_SERVER_PORT"),
        ('title = "T"\n', {"FEEDER_BASE_URL": "nope"}, "FEEDER_BASE_URL"),
        ('title = "T"\nwebsub_hub = "hub.example"\n', {}, "websub_hub"),
        ('title = "T"\nwebsub_hub = "ftp://hub.example/"\n', {}, "websub_hub"),
        ('title = "T"\nwebsub_hub = ["https://hub.example/", 3]\n', {}, "websub_hub"),
        ('title = "T"\nwebsub_hub = "https://hub.example/a b"\n', {}, "percent-encode"),
        ('title = "T"\nwebsub_hub = "https://hub.example/<x>"\n', {}, "percent-encode"),
        ('title = "T"\nwebsub_hub = "https://me:secret@hub.example/"\n', {}, "password"),
        ('title = "T"\nwebsub_hub = "https://hub.example/#top"\n', {}, "fragment"),
        ('title = "T"\nwebsub_hub = "https://hub.example:99999/"\n', {}, "websub_hub"),
        ('title = "T"\n', {"FEEDER_WEBSUB_HUB": "https://ok.example/,nope"}, "FEEDER_WEBSUB_HUB"),
    ],
)
def test_bad_values_are_one_line_errors_naming_the_key(
    tmp_path: Path, text: str, env: dict[str, str], names: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load(path, environ=env)
    message = str(caught.value)
    assert names in message, message
    assert "\n" not in message
    assert isinstance(caught.value, FeederError) and isinstance(caught.value, ValueError)
    assert caught.value.exit_code == 78


def test_invalid_toml_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, 'title = "unterminated\n')
    with pytest.raises(ConfigError, match=r"feeder\.toml: not valid TOML"):
        load(path, environ={})


def test_missing_file_says_how_to_create_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="feeder init"):
        load(tmp_path / "feeder.toml", environ={})
    assert load(tmp_path / "feeder.toml", environ={}, must_exist=False).title


def test_override_error_names_the_flag(tmp_path: Path) -> None:
    path = write(tmp_path, 'title = "T"\n')
    with pytest.raises(ConfigError, match=r"^--db: "):
        load(path, environ={}, overrides={"database_url": "nonsense"})


def test_a_postgresql_url_without_psycopg_installed_says_what_to_install(tmp_path: Path) -> None:
    path = write(tmp_path, 'title = "T"\ndatabase_url = "postgresql+psycopg://u@h/db"\n')
    # A fresh interpreter in which psycopg cannot be imported, as without feeder[postgres].
    code = (
        "import sys; sys.modules['psycopg'] = None\n"
        "from feeder.config import load\n"
        "try:\n    load(sys.argv[1], environ={})\n"
        "except Exception as exc:\n    print(type(exc).__name__, exc)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True
    )
    assert done.stdout.startswith("ConfigError "), done.stdout + done.stderr
    assert "pip install 'feeder[postgres]'" in done.stdout
    assert done.stdout.count("\n") == 1
