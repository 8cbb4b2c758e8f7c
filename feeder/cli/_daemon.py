"""The daemon command: run."""

from __future__ import annotations

import click

from feeder.cli import cli
from jobs import LEVELS, LOG_FORMATS


@cli.command()
@click.option(
    "--host",
    default=None,
    help="Address to serve on (default: server.host, 127.0.0.1). 0.0.0.0 listens on all.",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=None,
    help="Port to serve on (default: server.port, 8080).",
)
@click.option(
    "--no-serve",
    is_flag=True,
    help="Only publish; leave serving the output directory to nginx or another server.",
)
@click.option(
    "--log-level",
    type=click.Choice(LEVELS),
    default="info",
    show_default=True,
    help="Least severe messages to log.",
)
@click.option(
    "--log-format",
    type=click.Choice(LOG_FORMATS),
    default="text",
    show_default=True,
    help="Log lines as text, or as one JSON object per line.",
)
@click.pass_context
def run(
    ctx: click.Context,
    host: str | None,
    port: int | None,
    no_serve: bool,
    log_level: str,
    log_format: str,
) -> None:
    """Publish continuously and serve the output directory.

    Builds when articles change (on PostgreSQL as soon as a change commits,
    otherwise checked every schedule.poll_interval seconds), on the second each
    scheduled article is due, and fully every schedule.rebuild_interval seconds.
    Several 'feeder run' on one site each publish their own output directory;
    those sharing one directory take turns: one builds, the others wait and take
    over if it stops or loses its database connection. SIGTERM or Ctrl-C stops
    it; SIGHUP reloads feeder.toml.
    """
    from jobs import Daemon, LogSettings, RunOptions

    obj = ctx.find_root().obj or {}
    options = RunOptions(
        config=obj.get("config"),
        database_url=obj.get("db"),
        host=host,
        port=port,
        serve=not no_serve,
        logs=LogSettings(level=log_level, format="json" if log_format == "json" else "text"),
    )
    ctx.exit(Daemon(options, out=click.echo).run())
