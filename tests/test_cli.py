"""The feeder command: every command, JSON output, and one clean line for every bad input."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from feeder import Site
from feeder.cli import cli
from tests.feedcheck import parse_feed

FEEDER = Path(sys.executable).parent / "feeder"


@pytest.fixture
def site_root(tmp_path: Path) -> Path:
    root = tmp_path / "site"
    result = CliRunner().invoke(
        cli,
        [
            "init",
            str(root),
            "--title",
            "CLI Site",
            "--base-url",
            "https://example.org/cli/",
            "--author",
            "Ann",
            "--id-authority",
            "example.org",
        ],
    )
    assert result.exit_code == 0, result.output
    return root


def run(root: Path, args: Sequence[str], stdin: str | bytes | None = None) -> Result:
    return CliRunner().invoke(cli, ["-c", str(root / "feeder.toml"), *args], input=stdin)


def ok(root: Path, args: Sequence[str], stdin: str | bytes | None = None) -> Result:
    result = run(root, args, stdin)
    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    assert result.stderr == ""
    return result


def state(root: Path) -> tuple[int, list[Any]]:
    with Site.open(root / "feeder.toml") as site:
        return site.revision(), site.list_articles()


def test_init_creates_config_and_database_and_keeps_an_existing_config(site_root: Path) -> None:
    config = site_root / "feeder.toml"
    text = config.read_text()
    assert 'title = "CLI Site"' in text
    assert (site_root / "feeder.db").exists()
    again = CliRunner().invoke(cli, ["init", str(site_root), "--title", "Other"])
    assert again.exit_code == 0
    assert config.read_text() == text


def test_add_prints_slug_and_id_and_reads_content_from_file_and_stdin(
    site_root: Path, tmp_path: Path
) -> None:
    body = tmp_path / "body.html"
    body.write_text("<p>From a file.</p>", encoding="utf-8")
    result = ok(
        site_root, ["add", "--title", "Hello", "--tag", "news", "--content-file", str(body)]
    )
    slug, uid = result.stdout.strip().split("\t")
    assert slug == "hello"
    assert uid.startswith("tag:example.org,") and uid.endswith(":/articles/hello")
    ok(site_root, ["add", "--title", "Piped", "--content-file", "-"], stdin="<p>From stdin.</p>")
    shown = json.loads(ok(site_root, ["show", "piped", "--json"]).stdout)
    assert shown["content"] == "<p>From stdin.</p>"
    assert shown["summary"] == "From stdin."


def test_json_outputs_parse(site_root: Path) -> None:
    added = json.loads(
        ok(
            site_root,
            [
                "add",
                "--title",
                "Later",
                "--published",
                "2099-01-01T00:00:00Z",
                "--summary",
                "S",
                "--json",
            ],
        ).stdout
    )
    assert added["slug"] == "later" and added["published"] == "2099-01-01T00:00:00+00:00"
    ok(site_root, ["add", "--title", "Now", "--author", "Bob", "--link", "https://e.net/x"])
    listed = json.loads(ok(site_root, ["list", "--json"]).stdout)
    assert [(a["slug"], a["status"]) for a in listed] == [
        ("later", "scheduled"),
        ("now", "published"),
    ]
    published = json.loads(ok(site_root, ["list", "--status", "published", "--json"]).stdout)
    assert [a["slug"] for a in published] == ["now"]
    assert len(json.loads(ok(site_root, ["list", "--limit", "1", "--json"]).stdout)) == 1
    shown = json.loads(ok(site_root, ["show", "now", "--json"]).stdout)
    assert shown["author"]["name"] == "Bob" and shown["link"] == "https://e.net/x"
    edited = json.loads(ok(site_root, ["edit", "now", "--title", "Now!", "--json"]).stdout)
    assert edited["title"] == "Now!" and edited["id"] == shown["id"]
    report = json.loads(ok(site_root, ["build", "--json"]).stdout)
    assert report["entries"] == 1 and report["errors"] == []
    site_files = {"rss.xml", "atom.xml", "feed.json", "index.html", "feeds.opml"}
    site_files |= {"feed.xsl", "feed.css"}
    bobs = {f"authors/bob/{name}" for name in ("rss.xml", "atom.xml", "feed.json", "index.html")}
    assert set(report["written"]) == site_files | bobs
    status = json.loads(ok(site_root, ["status", "--json"]).stdout)
    assert status["articles"] == 2 and status["pending_changes"] is False
    assert status["next_scheduled"].startswith("2099-01-01")


def test_text_outputs(site_root: Path) -> None:
    ok(site_root, ["add", "--title", "One", "--tag", "a", "--tag", "b"])
    assert "one" in ok(site_root, ["list"]).stdout
    shown = ok(site_root, ["show", "one"]).stdout
    assert "title:" in shown and "tags:" in shown and "a, b" in shown
    built = ok(site_root, ["build"]).stdout
    assert (
        "https://example.org/cli/rss.xml" in built and "https://example.org/cli/atom.xml" in built
    )
    again = ok(site_root, ["build", "--full"]).stdout
    assert "0 written" in again
    assert "last build" in ok(site_root, ["status"]).stdout
    assert ok(site_root, ["delete", "one"]).stdout.startswith("deleted\tone\t")
    assert ok(site_root, ["list"]).stdout == ""


def test_edit_clears_link_tags_and_author(site_root: Path) -> None:
    ok(
        site_root,
        ["add", "--title", "T", "--link", "https://e.net/", "--tag", "x", "--author", "B"],
    )
    ok(site_root, ["edit", "t", "--link", "", "--clear-tags", "--author", ""])
    shown = json.loads(ok(site_root, ["show", "t", "--json"]).stdout)
    assert (shown["link"], shown["tags"], shown["author"]) == (None, [], None)


def test_db_option_and_environment_choose_the_database(site_root: Path, tmp_path: Path) -> None:
    other = f"sqlite:///{tmp_path / 'other.db'}"
    ok(site_root, ["--db", other, "init", str(site_root)])  # only init creates a database
    ok(site_root, ["--db", other, "add", "--title", "Elsewhere"])
    assert state(site_root)[1] == []
    listed = CliRunner().invoke(
        cli,
        ["list", "--json"],
        env={"FEEDER_CONFIG": str(site_root / "feeder.toml"), "FEEDER_DATABASE_URL": other},
    )
    assert [a["slug"] for a in json.loads(listed.stdout)] == ["elsewhere"]


BAD: list[Any] = [
    pytest.param(["add", "--title", ""], "title", id="empty-title"),
    pytest.param(["add", "--title", "   "], "title", id="blank-title"),
    pytest.param(["add"], "title", id="missing-title"),
    pytest.param(["add", "--title", "T", "--link", "foo/bar"], "link", id="relative-link"),
    pytest.param(["add", "--title", "T", "--link", "ftp://e.org/x"], "link", id="ftp-link"),
    pytest.param(["add", "--title", "T", "--published", "tomorrow"], "published", id="bad-date"),
    pytest.param(
        ["add", "--title", "T", "--published", "2026-11-26T10:00"], "published", id="naive-date"
    ),
    pytest.param(["add", "--title", "T", "--slug", "existing"], "slug", id="duplicate-slug"),
    pytest.param(["add", "--title", "T", "--slug", "No Good"], "slug", id="bad-slug"),
    pytest.param(["add", "--title", "T", "--tag", "!!"], "tag", id="bad-tag"),
    pytest.param(
        ["add", "--title", "T", "--content-file", "/nonexistent/x.html"],
        "content-file",
        id="missing-content-file",
    ),
    pytest.param(["show", "missing"], "slug", id="show-unknown"),
    pytest.param(["edit", "missing", "--title", "X"], "slug", id="edit-unknown"),
    pytest.param(["delete", "missing"], "slug", id="delete-unknown"),
    pytest.param(["edit", "existing", "--slug", "other"], "slug", id="edit-duplicate-slug"),
    pytest.param(["edit", "existing", "--link", "nope"], "link", id="edit-bad-link"),
    pytest.param(["edit", "existing", "--published", "soon"], "published", id="edit-bad-date"),
    pytest.param(["--db", "nonsense", "list"], "--db", id="bad-db-url"),
    pytest.param(
        ["--db", "postgresql+psycopg3://u@127.0.0.1/db", "list"], "--db", id="unknown-driver"
    ),
    pytest.param(
        ["--db", "sqlite:////nonexistent-feeder-dir/x.db", "add", "--title", "T"],
        "does not exist; run 'feeder init'",
        id="missing-database",
    ),
    pytest.param(["add", "--title", "Caf\udce9"], "title: is not valid UTF-8", id="undecodable"),
    pytest.param(["add", "--title", "T", "--tag", "caf\udce9"], "tag", id="undecodable-tag"),
    pytest.param(["add", "--title", "T", "--author", "\udce9"], "author", id="undecodable-author"),
    pytest.param(["add", "--title", "T", "--summary", "s\udcff"], "summary", id="undecodable-sum"),
    pytest.param(
        ["--db", "postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=2", "list"],
        "database",
        id="unreachable-db",
    ),
    pytest.param(["list", "--limit", "0"], "limit", id="zero-limit"),
    pytest.param(["list", "--status", "odd"], "status", id="bad-status"),
]


@pytest.mark.parametrize(("args", "names"), BAD)
def test_bad_input_is_one_line_on_stderr_and_changes_nothing(
    site_root: Path, args: list[str], names: str
) -> None:
    ok(site_root, ["add", "--title", "Existing"])
    ok(site_root, ["add", "--title", "Other"])
    before = state(site_root)
    result = run(site_root, args)
    assert result.exit_code != 0
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and names in lines[0], lines[0]
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert state(site_root) == before


def test_invalid_utf8_content_names_the_byte(site_root: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.html"
    bad.write_bytes(b"<p>caf\xe9</p>")
    result = run(site_root, ["add", "--title", "T", "--content-file", str(bad)])
    assert result.exit_code == 65
    assert result.stderr.strip() == (
        f"error: content-file: {bad} is not valid UTF-8 at byte 6; save it as UTF-8"
    )


def test_missing_or_bad_config_is_one_line(tmp_path: Path) -> None:
    missing = CliRunner().invoke(cli, ["-c", str(tmp_path / "none.toml"), "list"])
    assert missing.exit_code == 78
    assert missing.stderr.count("\n") == 1 and "feeder init" in missing.stderr
    bad = tmp_path / "feeder.toml"
    bad.write_text('title = "T"\nmax_items = 0\n')
    result = CliRunner().invoke(cli, ["-c", str(bad), "list"])
    assert result.exit_code == 78
    assert result.stderr.count("\n") == 1 and "max_items" in result.stderr


def test_init_with_a_bad_base_url_names_the_flag_and_leaves_nothing(tmp_path: Path) -> None:
    target = tmp_path / "new"
    result = CliRunner().invoke(cli, ["init", str(target), "--base-url", "example.org"])
    assert result.exit_code == 78
    assert result.stderr.count("\n") == 1
    assert list(target.iterdir()) == []
    assert ".new" not in result.stderr and "--base-url" in result.stderr


def test_init_writes_any_title_into_valid_toml(tmp_path: Path) -> None:
    title = 'Line one\nline two\t"quoted" \\ back\x7fslash'
    result = CliRunner().invoke(cli, ["init", str(tmp_path / "new"), "--title", title])
    assert result.exit_code == 0, result.stderr
    with Site.open(tmp_path / "new" / "feeder.toml") as site:
        assert site.config.title == title


def test_init_with_a_title_that_is_not_utf8_names_the_flag_and_leaves_nothing(
    tmp_path: Path,
) -> None:
    target = tmp_path / "new"
    # Python reads the argument bytes b"caf\xe9" (Latin-1, not UTF-8) as "caf\udce9".
    result = CliRunner().invoke(cli, ["init", str(target), "--title", "caf\udce9"])
    assert result.exit_code == 78
    assert result.stderr == "error: --title: is not valid UTF-8 text; set it in UTF-8\n"
    assert list(target.iterdir()) == []


def test_the_installed_command_in_a_real_process(tmp_path: Path) -> None:
    assert FEEDER.exists(), f"{FEEDER} missing: is the project installed in this venv?"

    def feeder(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(FEEDER), *args],
            cwd=tmp_path / "site" if (tmp_path / "site").exists() else tmp_path,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
            env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        )

    init = feeder("init", "site", "--title", "Real", "--base-url", "https://example.org/r/")
    assert init.returncode == 0, init.stderr
    added = feeder("add", "--title", "From a shell", "--content-file", "-", stdin="<p>Hi</p>")
    assert added.returncode == 0, added.stderr
    assert added.stdout.startswith("from-a-shell\ttag:example.org,")
    built = feeder("build")
    assert built.returncode == 0, built.stderr
    public = tmp_path / "site" / "public"
    for name in ("rss.xml", "atom.xml"):
        entries = parse_feed(public / name).entries
        assert [e.title for e in entries] == ["From a shell"]
    assert (public / "articles" / "from-a-shell.html").exists()
    bad = feeder("add", "--title", "X", "--link", "nope")
    assert bad.returncode == 65
    assert bad.stderr.startswith("error: link:") and bad.stderr.count("\n") == 1
    assert feeder("--version").stdout.startswith("feeder ")


def test_commands_on_a_missing_database_exit_69_and_create_nothing(tmp_path: Path) -> None:
    config = tmp_path / "feeder.toml"
    config.write_text('title = "T"\nbase_url = "https://example.org/"\n', encoding="utf-8")
    for args in (["build"], ["add", "--title", "T"], ["list"], ["status"], ["show", "x"]):
        result = CliRunner().invoke(cli, ["-c", str(config), *args])
        assert result.exit_code == 69, (args, result.output)
        assert result.stderr.count("\n") == 1 and "feeder init" in result.stderr
        assert sorted(p.name for p in tmp_path.iterdir()) == ["feeder.toml"]
    nested = tmp_path / "no" / "such" / "x.db"
    result = CliRunner().invoke(cli, ["-c", str(config), "--db", f"sqlite:///{nested}", "list"])
    assert result.exit_code == 69
    assert not (tmp_path / "no").exists()


def test_init_on_a_loopback_address_makes_up_an_authority_and_says_so(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["init", str(tmp_path / "a"), "--base-url", "http://127.0.0.1:8080/"]
    )
    assert result.exit_code == 0, result.output
    (warning,) = result.stderr.splitlines()
    assert warning.startswith("warning: id_authority: http://127.0.0.1:8080/ has no domain")
    authority = re.search(r"'(site-[0-9a-f]{8}\.feeder\.invalid)'", warning)
    assert authority is not None
    assert f'id_authority = "{authority.group(1)}"' in (tmp_path / "a" / "feeder.toml").read_text()
    other = CliRunner().invoke(
        cli, ["init", str(tmp_path / "b"), "--base-url", "http://127.0.0.1:8080/"]
    )
    assert authority.group(1) not in other.stderr  # two such sites never share ids
    again = CliRunner().invoke(cli, ["init", str(tmp_path / "a")])  # an existing site: quiet
    assert again.exit_code == 0 and again.stderr == ""
    named = CliRunner().invoke(
        cli, ["init", str(tmp_path / "c"), "--base-url", "https://news.example.com/"]
    )
    assert named.stderr == ""
