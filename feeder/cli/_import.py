"""Commands that bring articles in from elsewhere: import, import-feed."""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import click

from feeder.cli import cli
from feeder.cli._common import echo_json, open_site
from feeder.importing import formats

if TYPE_CHECKING:
    from feeder.importing.importer import ImportReport, Progress

_DRY_RUN = click.option(
    "--dry-run", is_flag=True, help="Report what would be added or updated; store nothing."
)
_STRICT = click.option(
    "--strict",
    is_flag=True,
    help="Stop at the first bad input and store nothing (one transaction).",
)
# 128 + SIGINT, as shells report a program stopped by Ctrl-C.
_EXIT_INTERRUPTED = 130
_JSON = click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
_VERBOSE = click.option(
    "-v", "--verbose", is_flag=True, help="Print each article added or updated."
)


@cli.command("import")
@click.argument("paths", nargs=-1, required=True, metavar="PATH...")
@click.option(
    "--format",
    "kind",
    type=click.Choice(formats.FORMATS),
    default=None,
    help="What stdin ('-') holds; for named files it overrides the extension.",
)
@_DRY_RUN
@_STRICT
@_JSON
@_VERBOSE
@click.pass_context
def import_(
    ctx: click.Context,
    paths: tuple[str, ...],
    kind: str | None,
    dry_run: bool,
    strict: bool,
    as_json: bool,
    verbose: bool,
) -> None:
    """Import articles from files, directories (recursively) and '-' (stdin).

    Markdown (.md) and HTML (.html) take their fields from front matter, text
    (.txt) makes the first line the title, JSON Lines (.jsonl) holds one
    article per line. Articles are matched by id or slug, so importing the same
    input again changes nothing. Bad inputs are reported and skipped, and the
    exit code says so.
    """
    try:
        with open_site(ctx) as site, _progress_bar(_expected(paths)) as progress:
            report = site.import_paths(
                paths,
                format=kind,
                stdin=sys.stdin.buffer,
                strict=strict,
                dry_run=dry_run,
                progress=progress,
            )
    except KeyboardInterrupt:
        kept = "nothing was stored" if strict or dry_run else "articles stored so far are kept"
        click.echo(
            f"error: import interrupted: {kept}; run the same import again to finish it",
            err=True,
        )
        ctx.exit(_EXIT_INTERRUPTED)
    _show(ctx, report, as_json=as_json, verbose=verbose or dry_run)


@cli.command("import-feed")
@click.argument("source", metavar="URL_OR_FILE")
@_DRY_RUN
@_STRICT
@_JSON
@_VERBOSE
@click.pass_context
def import_feed(
    ctx: click.Context, source: str, dry_run: bool, strict: bool, as_json: bool, verbose: bool
) -> None:
    """Import the entries of an RSS, Atom or JSON feed, keeping their ids and dates.

    Subscribers of the old feed see no duplicates once the site publishes
    with feeder. Entries without an id get their link as id.
    """
    with open_site(ctx) as site, _progress_bar(None) as progress:
        report = site.import_feed(source, strict=strict, dry_run=dry_run, progress=progress)
    _show(ctx, report, as_json=as_json, verbose=verbose or dry_run)


def _show(ctx: click.Context, report: ImportReport, *, as_json: bool, verbose: bool) -> None:
    for failure in report.failures:
        click.echo(f"error: {failure}", err=True)
    if as_json:
        echo_json(
            {
                "added": report.added,
                "updated": report.updated,
                "unchanged": report.unchanged,
                "rejected": report.rejected,
                "dry_run": report.dry_run,
                "changes": [
                    {"action": c.action, "slug": c.slug, "id": c.id, "source": c.origin}
                    for c in report.changes
                ],
                "errors": [str(failure) for failure in report.failures],
            }
        )
    else:
        if verbose:
            for change in report.changes:
                click.echo(f"{change.action}\t{change.slug}\t{change.id}")
        click.echo(report.summary())
    if not report.ok:
        ctx.exit(report.exit_code)


def _expected(paths: Sequence[str]) -> int | None:
    """How many articles the inputs hold, for the progress bar (only worth it on a terminal)."""
    from feeder.importing.sources import STDIN, files_under

    if not sys.stderr.isatty() or STDIN in paths:
        return None
    total = 0
    for name in paths:
        path = Path(name)
        for file in files_under(path) if path.is_dir() else [path]:
            if formats.format_of(file) == "jsonl":
                try:
                    with file.open("rb") as stream:
                        total += sum(1 for line in stream if line.strip())
                except OSError:
                    pass
            else:
                total += 1
    return total


@contextmanager
def _progress_bar(total: int | None) -> Iterator[Progress | None]:
    """A progress bar on stderr when it is a terminal; nothing otherwise."""
    if not sys.stderr.isatty():
        yield None
        return
    from tqdm import tqdm  # only for a terminal

    with tqdm(total=total, unit=" articles", file=sys.stderr, leave=False) as bar:
        yield bar.update
