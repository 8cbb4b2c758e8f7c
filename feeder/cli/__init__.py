"""The ``feeder`` command. Each command is a thin wrapper over the Python API.

Errors a user can fix (:class:`feeder.FeederError`) become one line on stderr
and a non-zero exit code, here and nowhere else.
"""

from __future__ import annotations

import logging
from typing import Any

import click

from feeder.errors import FeederError

__all__ = ["cli", "main"]


class _NoInterrupts(logging.Filter):
    """Drops a library's log record of a Ctrl-C it passes on (the command reports it once).

    SQLAlchemy logs "Exception during reset or similar" with a traceback when
    Ctrl-C lands while a connection goes back to its pool, then re-raises it.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        kind = record.exc_info[0] if record.exc_info else None
        return not (kind is not None and issubclass(kind, KeyboardInterrupt))


def _quiet_interrupts() -> None:
    """Keep Ctrl-C tracebacks out of what commands print through logging's last resort."""
    handler = logging.lastResort
    if handler is not None and not any(isinstance(f, _NoInterrupts) for f in handler.filters):
        handler.addFilter(_NoInterrupts())


class _Group(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except FeederError as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(exc.exit_code)
        except click.UsageError as exc:
            # One line, like every other user mistake; --help still shows the usage.
            sub = exc.ctx if exc.ctx is not None and exc.ctx.parent is not None else None
            hint = f" (see 'feeder {sub.info_name} --help')" if sub is not None else ""
            click.echo(f"error: {exc.format_message()}{hint}", err=True)
            ctx.exit(exc.exit_code)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "-c",
    "--config",
    "config_path",
    type=click.Path(dir_okay=True),
    envvar="FEEDER_CONFIG",
    default=None,
    help="Path to feeder.toml (default: ./feeder.toml; env FEEDER_CONFIG).",
)
@click.option(
    "--db",
    "database_url",
    default=None,
    metavar="URL",
    help="Database URL, overriding database_url and FEEDER_DATABASE_URL.",
)
@click.version_option(package_name="feeder", message="feeder %(version)s")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None, database_url: str | None) -> None:
    """Publish articles from a database as RSS 2.0 and Atom 1.0 feeds."""
    ctx.obj = {"config": config_path, "db": database_url}
    _quiet_interrupts()


def main() -> None:
    cli(prog_name="feeder")


# Commands register themselves on ``cli`` when their modules are imported.
from feeder.cli import _articles, _daemon, _import, _site  # noqa: E402,F401  (import for side effect)
