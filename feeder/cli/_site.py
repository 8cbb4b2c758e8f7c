"""Commands about the site as a whole: init, build, status."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

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
@click.option(
    "--ping-wait",
    type=click.FloatRange(min=0),
    default=10.0,
    show_default=True,
    metavar="SECONDS",
    help="How long to wait for the WebSub hubs to take the pings (the next build sends "
    "what they did not take).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_context
def build(ctx: click.Context, full: bool, wait: float, ping_wait: float, as_json: bool) -> None:
    """Write the feeds and pages; files whose bytes did not change are not touched.

    Safe to run while 'feeder run' is running: builds take turns. With websub_hub
    set, the hubs are told which feeds changed once the files are written.
    """
    with open_site(ctx) as site:
        if site.config.websub_hub:
            # The failures are said once below, not also by the log as they happen.
            logger = logging.getLogger("feeder.websub")
            if not logger.handlers:
                logger.addHandler(logging.NullHandler())
        report = site.build(full=full, wait=wait)
        from feeder.publishing.feeds import site_feeds

        feeds = [site.config.url(spec.path) for spec in site_feeds(site.config)]
        if not as_json:
            click.echo(report.summary())
            for error in report.errors:
                click.echo(f"error: {error}", err=True)
            for url in feeds:
                click.echo(f"  {url}")
        pings = site.stop_pings(ping_wait)
    if as_json:
        data: dict[str, object] = {
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
        if pings.hubs:
            data["websub"] = [
                {
                    "hub": hub.hub,
                    "delivered": hub.delivered,
                    "refused": [{"feed": feed, "error": error} for feed, error in hub.refused],
                    "undelivered": hub.undelivered,
                    "error": hub.error,
                }
                for hub in pings.hubs
            ]
        echo_json(data)
    else:
        for line in pings.failures():
            click.echo(f"warning: {line}", err=True)
    if report.errors:
        ctx.exit(1)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
@click.pass_context
def status(ctx: click.Context, as_json: bool) -> None:
    """Show the daemons, each output directory's last build, errors and what comes next.

    The first lines are about this site's output directory (output_dir); then
    every output directory and every daemon of the site are listed, wherever
    they run.
    """
    with open_site(ctx) as site:
        state = site.status()
        now = site.now()
    from jobs import daemon_alive, daemon_info

    daemon = daemon_info(state, now)
    data: dict[str, Any] = {
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
        "output": state.output_id,
    }
    outputs: list[dict[str, Any]] = [
        {
            "id": o.id,
            "path": o.path,
            "host": o.host,
            "this": o.id == state.output_id,
            "built_revision": o.built_revision,
            "pending_changes": o.pending,
            "last_build": fmt_time(o.built_at) if o.built_at else None,
            "last_build_seconds": o.build_seconds,
            "last_build_result": o.build_result,
            "last_error": o.last_error,
            "last_error_at": fmt_time(o.last_error_at) if o.last_error_at else None,
            "seen": fmt_time(o.seen_at),
            "writer": o.writer,
            "writing_since": fmt_time(o.writing_since) if o.writing_since else None,
        }
        for o in state.outputs
    ]
    daemons: list[dict[str, Any]] = [
        {
            "pid": d.pid,
            "host": d.host,
            "role": d.role,
            "running": daemon_alive(d, now),
            "output": d.output_id,
            "output_dir": d.output_dir,
            "version": d.version,
            "started": fmt_time(d.started_at),
            "heartbeat": fmt_time(d.heartbeat),
            "last_error": d.last_error,
            "last_error_at": fmt_time(d.last_error_at) if d.last_error_at else None,
        }
        for d in state.daemons
    ]
    if state.websub:
        data["websub"] = [
            {
                "hub": hub.hub,
                "last_ok": fmt_time(hub.last_ok_at) if hub.last_ok_at else None,
                "last_ok_feed": hub.last_ok_topic,
                "last_failure": hub.last_error,
                "last_failure_at": fmt_time(hub.last_error_at) if hub.last_error_at else None,
                "last_failure_feed": hub.last_error_topic,
                "owed": hub.owed,
            }
            for hub in state.websub
        ]
    if as_json:
        echo_json({**data, "outputs": outputs, "daemons": daemons})
        return
    del data["daemon_running"], data["daemon_pid"]  # the text line says it
    data.pop("websub", None)
    if isinstance(data["last_build_seconds"], float):
        data["last_build_seconds"] = f"{data['last_build_seconds']:.3f}"
    for key, value in data.items():
        click.echo(f"{key.replace('_', ' ') + ':':<20}{'-' if value is None else value}")
    for hub in state.websub:
        ok = f"{fmt_time(hub.last_ok_at)} ({hub.last_ok_topic})" if hub.last_ok_at else "-"
        failure = (
            f"{fmt_time(hub.last_error_at)}: {hub.last_error} ({hub.last_error_topic})"
            if hub.last_error
            else "-"
        )
        click.echo(f"{'websub hub:':<20}{hub.hub}")
        click.echo(f"{'  last ping ok:':<20}{ok}")
        click.echo(f"{'  last failure:':<20}{failure}")
        click.echo(f"{'  pings owed:':<20}{hub.owed}")
    click.echo(f"outputs:            {len(outputs) or '-'}")
    for shown in outputs:
        click.echo("  " + _output_line(shown))
    click.echo(f"daemons:            {len(daemons) or '-'}")
    for shown, record in zip(daemons, state.daemons, strict=True):
        age = max(0, int((now - record.heartbeat).total_seconds()))
        alive = f"alive {age} s ago" if shown["running"] else f"not running, last seen {age} s ago"
        where = f"{shown['output_dir']} ({_short(shown['output'])})"
        error = f"; last error: {shown['last_error']}" if shown["last_error"] else ""
        click.echo(
            f"  {shown['role']:<8}pid {shown['pid']} on {shown['host']}: {where}, {alive}{error}"
        )


def _short(output: str | None) -> str:
    return "-" if output is None else output[:12]


def _output_line(shown: dict[str, Any]) -> str:
    where = f"{shown['path'] or '?'} on {shown['host'] or '?'}"
    if shown["last_build"] is None:
        built = "never built"
    else:
        behind = ", changes pending" if shown["pending_changes"] else ", up to date"
        built = f"built {shown['last_build']}{behind}"
    parts = [f"{_short(shown['id'])}  {where}: {built}"]
    if shown["writer"]:
        parts.append(f"being written by {shown['writer']} since {shown['writing_since']}")
    if shown["last_error"]:
        parts.append(f"last error: {shown['last_error']}")
    return "; ".join(parts) + ("  (this one)" if shown["this"] else "")


@cli.command("forget-output")
@click.argument("output_id")
@click.pass_context
def forget_output(ctx: click.Context, output_id: str) -> None:
    """Forget an output directory that is gone for good (a host taken out of service).

    'feeder status' lists the output directories and their ids. Until an
    output directory is forgotten, or not built for 30 days, it holds back the
    clean-up of what incremental builds read. If it is ever built again, it
    gets a full build.
    """
    with open_site(ctx) as site:
        site.forget_output(output_id)
    click.echo(f"forgot output {output_id}")
