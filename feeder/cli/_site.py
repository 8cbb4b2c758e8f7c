"""Commands about the site as a whole: init, build, status."""

from __future__ import annotations

from pathlib import Path

import click

from feeder.cli import cli
from feeder.cli._common import echo_json, fmt_time, open_site


@cli.command()
@click.argument("directory", default=".", type=click.Path(file_okay=False))
@click.option("--title", default="My feeder site", show_default=True, help="Site title.")
@click.option(
    "--base-url",
    default="http://127.0.0.1:8080/",
    show_default=True,
    help="Public URL of the output directory.",
)
@click.option("--author", default=None, help="Feed author name (default: the title).")
@click.option(
    "--id-authority",
    default=None,
    help="Domain or email used in permanent ids (default: base URL's host).",
)
@click.pass_context
def init(
    ctx: click.Context,
    directory: str,
    title: str,
    base_url: str,
    author: str | None,
    id_authority: str | None,
) -> None:
    """Create feeder.toml and the database in DIRECTORY (existing ones are kept)."""
    db = (ctx.find_root().obj or {}).get("db")
    from feeder.config import CONFIG_NAME, new_site_authority
    from feeder.site import Site

    warning = None
    if not (Path(directory) / CONFIG_NAME).exists():
        # Made up for a loopback base URL: say so once, when the site is created.
        id_authority, warning = new_site_authority(base_url, id_authority)
    with Site.init(
        directory,
        title=title,
        base_url=base_url,
        author=author,
        id_authority=id_authority,
        database_url=db,
    ) as site:
        if warning:
            click.echo(f"warning: {warning}", err=True)
        click.echo(f"site ready in {site.config.root}")
        click.echo(f"  config:   {site.config.root / 'feeder.toml'}")
        click.echo(f"  database: {site.storage.describe()}")
        click.echo(f"  output:   {site.config.output_dir}")


@cli.command()
@click.option("--full", is_flag=True, help="Re-render every page, not only what changed.")
@click.option(
    "--wait",
    type=click.FloatRange(min=0),
    default=60.0,
    show_default=True,
    metavar="SECONDS",
    help="How long to wait for a build already running (a daemon's, say) before giving up.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_context
def build(ctx: click.Context, full: bool, wait: float, as_json: bool) -> None:
    """Write the feeds and pages; files whose bytes did not change are not touched.

    Safe to run while 'feeder run' is running: builds take turns.
    """
    with open_site(ctx) as site:
        report = site.build(full=full, wait=wait)
        from feeder.publishing.feeds import site_feeds

        feeds = [site.config.url(spec.path) for spec in site_feeds(site.config)]
    if as_json:
        echo_json(
            {
                "full": report.full,
                "entries": report.entries,
                "written": list(report.written),
                "written_count": report.written_count,
                "unchanged": report.unchanged,
                "removed": list(report.removed),
                "removed_count": report.removed_count,
                "seconds": report.seconds,
                "errors": list(report.errors),
            }
        )
    else:
        click.echo(report.summary())
        for error in report.errors:
            click.echo(f"error: {error}", err=True)
        for url in feeds:
            click.echo(f"  {url}")
    if report.errors:
        ctx.exit(1)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
@click.pass_context
def status(ctx: click.Context, as_json: bool) -> None:
    """Show the daemon, the last build, the last error and the next scheduled publication."""
    with open_site(ctx) as site:
        state = site.status()
        now = site.now()
    from jobs import daemon_info

    daemon = daemon_info(state, now)
    data = {
        "daemon": daemon.describe(now),
        "daemon_running": daemon.running,
        "daemon_pid": daemon.pid,
        "articles": state.articles,
        "revision": state.revision,
        "pending_changes": state.revision != state.built_revision,
        "last_build": fmt_time(state.built_at) if state.built_at else None,
        "last_build_seconds": state.build_seconds,
        "last_build_result": state.build_result,
        "last_error": state.last_error,
        "last_error_at": fmt_time(state.last_error_at) if state.last_error_at else None,
        "next_scheduled": fmt_time(state.next_scheduled) if state.next_scheduled else None,
    }
    if as_json:
        echo_json(data)
        return
    del data["daemon_running"], data["daemon_pid"]  # the text line says it
    for key, value in data.items():
        click.echo(f"{key.replace('_', ' ') + ':':<20}{'-' if value is None else value}")
