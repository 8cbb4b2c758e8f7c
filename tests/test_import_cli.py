"""`feeder import`, `import-feed` and `add --format` as a user runs them.

Every bad input gets one test: one line on stderr naming the file (and line),
the field and the fix, a non-zero exit code, and nothing changed in the
database or the output directory.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import Engine, select

from db.models import Base
from feeder import Site
from feeder.cli import cli


def snapshot_database(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, in a stable order."""
    with engine.connect() as connection:
        return {
            table.name: sorted((tuple(row) for row in connection.execute(select(table))), key=repr)
            for table in Base.metadata.sorted_tables
        }


def snapshot_files(directory: Path) -> dict[str, tuple[bytes, int]]:
    return {
        str(path.relative_to(directory)): (path.read_bytes(), path.stat().st_mtime_ns)
        for path in sorted(directory.rglob("*"))
        if path.is_file()
    }


@pytest.fixture
def built(sqlite_site: Site) -> Site:
    """A site with one article, built: its database and output exist."""
    sqlite_site.add_article("Existing", slug="existing", content="<p>here</p>")
    sqlite_site.build()
    return sqlite_site


def run(site: Site, *args: str, input: bytes | str | None = None) -> Result:
    config = str(site.config.root / "feeder.toml")
    return CliRunner().invoke(cli, ["-c", config, *args], input=input)


@pytest.fixture
def unchanged(built: Site) -> Iterator[None]:
    """Asserts that the test changed neither the database nor the output directory."""
    database = snapshot_database(built.storage.engine)
    files = snapshot_files(built.config.output_dir)
    yield
    assert snapshot_database(built.storage.engine) == database
    assert snapshot_files(built.config.output_dir) == files


def refused(result: Result, code: int, message: str) -> None:
    assert result.exit_code == code, result.output
    assert result.stderr == f"error: {message}\n"


# -- every bad input: one line naming the file, the field and the fix; nothing changes --


REFUSALS: list[Any] = [
    pytest.param(
        "post.md",
        b"---\nslug: x\n---\nbody\n",
        (),
        65,
        "{path}: title: missing; add 'title: ...' to the front matter or start the file "
        "with a '# Title' line",
        id="missing-title",
    ),
    pytest.param(
        "post.md",
        b"---\ntitle: T\nlink: example.org/post\n---\n",
        (),
        65,
        "{path}: link: 'example.org/post' is not an absolute http(s) URL; "
        "use e.g. 'https://example.org/post'",
        id="invalid-url",
    ),
    pytest.param(
        "post.md",
        b"---\ntitle: T\npublished: next tuesday\n---\n",
        (),
        65,
        "{path}: published: cannot read 'next tuesday' as a date; use ISO 8601, "
        "e.g. 2026-11-26T09:30:00Z",
        id="unparsable-date",
    ),
    pytest.param(
        "post.md",
        b"---\ntitle: T\nupdated: 03/04/2026\n---\n",
        (),
        65,
        "{path}: updated: cannot read '03/04/2026' as a date; use ISO 8601, "
        "e.g. 2026-11-26T09:30:00Z",
        id="ambiguous-date",
    ),
    pytest.param(
        "post.txt",
        b"---\npublished: 2026-11-20 09:00\n---\nTitle\n\nBody\n",
        (),
        65,
        "{path}: published: 2026-11-20 09:00 has no time zone; add one (e.g. 'Z' or "
        "'+01:00') or set 'timezone' in feeder.toml",
        id="naive-date",
    ),
    pytest.param(
        "post.md",
        b"---\ntitle: T\nslug: existing\nid: urn:uuid:1\n---\n",
        (),
        65,
        "{path}: slug: 'existing' is already used by an article with a different id "
        "({existing_id}); change the slug, or use that article's id",
        id="duplicate-slug",
    ),
    pytest.param(
        "post.md",
        b"---\ntitle: T\ntags: [a, b\n---\nbody\n",
        (),
        65,
        "{path}:4: front matter: not valid YAML (*); fix the syntax, e.g. 'title: \"My post\"'",
        id="malformed-front-matter",
    ),
    pytest.param(
        "post.md",
        b"---\ntitle: T\ndate: 2026-11-20T09:00:00Z\n---\n",
        (),
        65,
        "{path}: front matter: unknown key 'date'; known keys: title, slug, link, summary, "
        "author, tags, published, updated, id, enclosures, transcripts, chapters, duration, "
        "episode, season, episode_type (check the spelling)",
        id="unknown-front-matter-key",
    ),
    pytest.param(
        "bulk.jsonl",
        b'{"title": "fine"}\n{"title": "broken",}\n',
        ("--strict",),
        65,
        "{path}:2: not valid JSON (Expecting property name enclosed in double quotes at "
        'column 20); write one object per line, e.g. {{"title": "Hello"}}',
        id="invalid-json-line",
    ),
    pytest.param(
        "missing.md",
        None,
        (),
        66,
        "{path}: no such file or directory; check the path",
        id="no-such-file",
    ),
    pytest.param(
        "socket.md",
        "socket",  # exists, is no directory, and nobody can read it
        (),
        66,
        "{path}: cannot be read (No such device or address); check that it exists and is readable",
        id="unreadable-file",
    ),
    pytest.param(
        "post.txt",
        b"Title\n\nCaf\xe9 au lait\n",
        (),
        65,
        "{path}: not valid UTF-8 at byte 10; save the file as UTF-8",
        id="invalid-utf8",
    ),
    pytest.param(
        "big.html",
        "big",
        (),
        65,
        "{path}: content: {size} bytes is over the limit of {limit}; shorten it or "
        "raise content.max_content_bytes in feeder.toml",
        id="content-over-limit",
    ),
    pytest.param(
        "-",
        b"Title\n\nbody\n",
        (),
        65,
        "stdin: its format is unknown; pass --format md|html|text|jsonl",
        id="stdin-without-format",
    ),
    pytest.param(
        "post.rst",
        b"Title\n=====\n",
        (),
        65,
        "{path}: unknown file type '.rst'; name it .md, .html, .txt or .jsonl, or pass --format",
        id="unknown-file-type",
    ),
]


@pytest.mark.parametrize(("name", "data", "flags", "code", "message"), REFUSALS)
def test_a_bad_input_is_refused_in_one_line(
    built: Site,
    tmp_path: Path,
    unchanged: None,
    name: str,
    data: bytes | str | None,
    flags: tuple[str, ...],
    code: int,
    message: str,
) -> None:
    path = tmp_path / name
    limit = built.config.content.max_content_bytes
    stdin: bytes | None = None
    with contextlib.ExitStack() as stack:
        if name == "-":
            stdin = data if isinstance(data, bytes) else None
        elif data == "socket":
            listener = stack.enter_context(socket.socket(socket.AF_UNIX))
            listener.bind(str(path))
        elif data == "big":
            path.write_text(f"<title>Big</title><p>{'x' * limit}</p>")
        elif isinstance(data, bytes):
            path.write_bytes(data)
        argument = "-" if name == "-" else str(path)
        result = run(built, "import", *flags, argument, input=stdin)
    expected = message.format(
        path=path,
        limit=limit,
        size=limit + 7,
        existing_id=built.get_article("existing").id,
    )
    assert result.exit_code == code, result.output
    if "(*)" in expected:  # the parser's own words in the parentheses
        head, tail = expected.split("(*)")
        assert result.stderr.startswith(f"error: {head}(") and result.stderr.endswith(f"){tail}\n")
        assert result.stderr.count("\n") == 1
    else:
        assert result.stderr == f"error: {expected}\n"


# -- imports that work ---------------------------------------------------------------------


def test_bad_files_are_skipped_and_the_exit_code_says_so(built: Site, tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in/good.md").write_text("---\ntitle: Good\n---\nfine\n")
    (tmp_path / "in/bad.md").write_text("---\ntitle: Bad\nlink: nope\n---\n")
    (tmp_path / "in/.hidden.md").write_text("not read")
    (tmp_path / "in/image.png").write_bytes(b"\x89PNG")
    result = run(built, "import", str(tmp_path / "in"))
    assert result.exit_code == 65
    assert result.stdout == "1 added, 0 updated, 0 unchanged, 1 rejected\n"
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith(f"error: {tmp_path / 'in/bad.md'}: link: 'nope'")
    assert built.get_article("good").title == "Good"


def test_strict_imports_nothing_when_one_file_is_bad(
    built: Site, tmp_path: Path, unchanged: None
) -> None:
    (tmp_path / "good.md").write_text("---\ntitle: Good\n---\n")
    (tmp_path / "bad.md").write_text("---\ntitle: Bad\nlink: nope\n---\n")
    result = run(built, "import", "--strict", str(tmp_path / "good.md"), str(tmp_path / "bad.md"))
    assert result.exit_code == 65
    assert result.stderr.startswith(f"error: {tmp_path / 'bad.md'}: link:")


def test_dry_run_lists_what_would_change(built: Site, tmp_path: Path, unchanged: None) -> None:
    (tmp_path / "new.md").write_text("---\ntitle: New\n---\n")
    result = run(built, "import", "--dry-run", str(tmp_path / "new.md"))
    assert result.exit_code == 0, result.output
    added, summary = result.stdout.splitlines()
    assert re.fullmatch(r"add\tnew\ttag:example\.org,\d{4}-\d\d-\d\d:/articles/new", added)
    assert summary == "1 added, 0 updated, 0 unchanged, 0 rejected (dry run: nothing was written)"


def test_import_from_stdin_and_again_is_idempotent(built: Site) -> None:
    text = "Piped “title”\n\nFirst.\n\nSecond.\n"
    first = run(built, "import", "--format", "text", "-", input=text)
    assert first.exit_code == 0, first.output
    assert first.stdout == "1 added, 0 updated, 0 unchanged, 0 rejected\n"
    assert first.stderr == ""  # no progress bar when stderr is not a terminal
    again = run(built, "import", "--format", "text", "-", input=text)
    assert again.stdout == "0 added, 0 updated, 1 unchanged, 0 rejected\n"
    assert built.get_article("piped-title").title == "Piped “title”"


def test_json_report(built: Site, tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    path.write_text(json.dumps({"title": "J", "slug": "j"}) + "\n[]\n")
    result = run(built, "import", "--json", str(path))
    assert result.exit_code == 65
    report = json.loads(result.stdout)
    assert (report["added"], report["rejected"], report["dry_run"]) == (1, 1, False)
    assert report["changes"][0]["slug"] == "j"
    assert report["changes"][0]["source"] == f"{path}:1"
    assert report["errors"] == [
        f'{path}:2: must be a JSON object, got list; write e.g. {{"title": "Hello"}}'
    ]


# -- add / edit --format ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "source", "args", "expected"),
    [
        ("c.md", "Some *markdown*", [], "<p>Some <em>markdown</em></p>\n"),
        ("c.txt", "one\n\ntwo & “three”", [], "<p>one</p>\n<p>two &amp; “three”</p>"),
        ("c.html", "<html><body><p>x</p></body></html>", [], "<p>x</p>"),
        ("c.dat", "*not markdown*", [], "*not markdown*"),
        ("c.dat", "*markdown*", ["--format", "md"], "<p><em>markdown</em></p>\n"),
    ],
)
def test_add_content_file_format(
    built: Site, tmp_path: Path, name: str, source: str, args: list[str], expected: str
) -> None:
    path = tmp_path / name
    path.write_text(source)
    result = run(built, "add", "--title", "Formatted", "--content-file", str(path), *args)
    assert result.exit_code == 0, result.output
    assert built.get_article("formatted").content == expected


def test_edit_content_file_format_from_stdin(built: Site) -> None:
    result = run(built, "edit", "existing", "--format", "md", "--content-file", "-", input="# Hi\n")
    assert result.exit_code == 0, result.output
    assert built.get_article("existing").content == "<h1>Hi</h1>\n"


def test_add_refuses_front_matter(built: Site, tmp_path: Path, unchanged: None) -> None:
    path = tmp_path / "p.md"
    path.write_text("---\ntitle: x\n---\nbody\n")
    refused(
        run(built, "add", "--title", "T", "--content-file", str(path)),
        65,
        f"{path}: has front matter, which 'add' does not read; import it with "
        f"'feeder import {path}' instead",
    )


def test_import_commands_have_help() -> None:
    for command in ("import", "import-feed"):
        result = CliRunner().invoke(cli, [command, "--help"])
        assert result.exit_code == 0
        assert "--dry-run" in result.output and "--strict" in result.output


def test_the_shipped_examples_import_cleanly(built: Site) -> None:
    examples = Path(__file__).parent.parent / "examples" / "articles"
    first = run(built, "import", str(examples))
    assert first.exit_code == 0, first.output
    assert first.stdout == "4 added, 0 updated, 0 unchanged, 0 rejected\n"
    assert {a.slug for a in built.list_articles()} >= {
        "welcome",
        "valid-feeds",
        "scheduling",
        "rss-spec",
    }
    welcome = built.get_article("welcome")
    assert welcome.title == "Welcome to feeder"
    assert [tag.slug for tag in welcome.tags] == ["feeder", "news"]
    assert welcome.published_at.isoformat() == "2026-11-20T09:00:00+00:00"
    assert built.get_article("rss-spec").url == "https://www.rssboard.org/rss-specification"
    again = run(built, "import", str(examples))
    assert again.stdout == "0 added, 0 updated, 4 unchanged, 0 rejected\n"


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_only_on_a_terminal(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from feeder.cli import _import

    (tmp_path / "in").mkdir()
    (tmp_path / "in/a.jsonl").write_text('{"title": "a"}\n\n{"title": "b"}\n')
    (tmp_path / "in/c.md").write_text("# c\n")
    with _import._progress_bar(_import._expected([str(tmp_path / "in")])) as progress:
        assert progress is None  # pytest's stderr is no terminal
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    total = _import._expected([str(tmp_path / "in")])
    assert total == 3
    with _import._progress_bar(total) as progress:
        assert progress is not None
        progress(2)
        progress(1)
    shown = terminal.getvalue()
    assert "0/3" in shown and " articles/s" in shown  # drawn, then cleared for the summary
    assert shown.endswith("\r")


# `feeder` as a user runs it, with Ctrl-C landing in SQLAlchemy's pool hook on the second
# time a connection goes back: there SQLAlchemy logs it with a traceback, then re-raises.
_INTERRUPTED_IN_THE_POOL = """
import sys
from sqlalchemy import event
from sqlalchemy.pool import Pool
from feeder.cli import main

resets = []

@event.listens_for(Pool, "reset")
def interrupt(*_):
    resets.append(1)
    if len(resets) == 2:
        raise KeyboardInterrupt

sys.argv = ["feeder", *sys.argv[1:]]
main()
"""


def test_ctrl_c_while_a_connection_returns_to_its_pool_prints_one_line(
    built: Site, tmp_path: Path
) -> None:
    source = tmp_path / "two.jsonl"
    source.write_text(
        "".join(json.dumps({"title": f"Post {n}", "content": "<p>x</p>"}) + "\n" for n in (1, 2)),
        encoding="utf-8",
    )
    config = str(built.config.root / "feeder.toml")
    command = ["-c", config, "import", str(source)]
    interrupted = subprocess.run(
        [sys.executable, "-c", _INTERRUPTED_IN_THE_POOL, *command],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert interrupted.returncode == 130, interrupted.stderr
    assert interrupted.stderr.splitlines() == [
        "error: import interrupted: articles stored so far are kept; "
        "run the same import again to finish it"
    ]
    again = run(built, *command[2:])
    assert again.exit_code == 0, again.output
    assert {a.title for a in built.list_articles()} == {"Existing", "Post 1", "Post 2"}
