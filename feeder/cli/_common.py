"""Helpers shared by the command modules."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from feeder.errors import InputError

if TYPE_CHECKING:
    from feeder.site import Site

__all__ = ["echo_json", "fmt_time", "open_site", "read_content"]


def open_site(ctx: click.Context) -> Site:
    from feeder.site import Site  # loaded by the commands that need it, not by --help

    obj = ctx.find_root().obj or {}
    return Site.open(obj.get("config"), database_url=obj.get("db"))


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=2))


def fmt_time(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%SZ") if value else "-"


def read_content(path: str) -> str:
    """Text of ``path`` (``-`` is stdin), refusing invalid UTF-8 with its byte offset."""
    where = "stdin" if path == "-" else path
    try:
        data = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    except OSError as exc:
        raise InputError(f"content-file: cannot read {where}: {exc.strerror}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"content-file: {where} is not valid UTF-8 at byte {exc.start}; save it as UTF-8"
        ) from None
