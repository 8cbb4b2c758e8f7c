"""Where import input comes from: files, directories (recursively) and stdin.

Each input becomes drafts, or the error that refuses it: a bad file is
reported without stopping the others. Directories are walked in name order,
so the same tree is always read in the same order.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

from feeder.errors import FeederError, InputError, NotFoundError
from feeder.importing import formats
from feeder.importing.formats import Draft, jsonl

__all__ = ["STDIN", "drafts_from_paths", "files_under"]

STDIN = "-"
# Drafts are parsed where they are checked (formats.resolve): in worker processes,
# for a bulk import.
Item = Draft | FeederError | formats.Pending


def drafts_from_paths(
    paths: Sequence[str | os.PathLike[str]],
    *,
    format: str | None = None,
    stdin: BinaryIO | None = None,
) -> Iterator[Item]:
    """Drafts from every input, in order.

    ``format`` (``md``, ``html``, ``text`` or ``jsonl``) is what stdin holds,
    and overrides the extension of files named directly; files found in a
    directory are read by their extension, and others there are skipped.
    """
    if format is not None and format not in formats.FORMATS:
        raise InputError(f"format: {format!r} is unknown; use one of {', '.join(formats.FORMATS)}")
    for raw in paths:
        name = os.fspath(raw)
        if name == STDIN:
            yield from _stdin(stdin, format)
            continue
        path = Path(name)
        if path.is_dir():
            unreadable: list[OSError] = []
            for file in files_under(path, unreadable.append):
                kind = formats.format_of(file)
                assert kind is not None
                yield from _file(file, kind)
            for error in unreadable:
                yield NotFoundError(
                    f"{error.filename}: cannot be read ({error.strerror}); check its permissions"
                )
        elif not path.exists():
            yield NotFoundError(f"{name}: no such file or directory; check the path")
        else:
            kind = format or formats.format_of(path)
            if kind is None:
                yield InputError(
                    f"{name}: unknown file type {path.suffix!r}; name it .md, .html, .txt or "
                    ".jsonl, or pass --format"
                )
            else:
                yield from _file(path, kind)


def files_under(
    directory: Path, on_error: Callable[[OSError], object] | None = None
) -> Iterator[Path]:
    """Importable files under ``directory``, in name order; hidden ones are skipped.

    A directory that cannot be listed is passed to ``on_error``.
    """
    for root, dirs, files in os.walk(directory, onerror=on_error):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if not name.startswith(".") and formats.format_of(name) is not None:
                yield Path(root, name)


def _stdin(stream: BinaryIO | None, kind: str | None) -> Iterator[Item]:
    if kind is None:
        yield InputError(f"stdin: its format is unknown; pass --format {'|'.join(formats.FORMATS)}")
        return
    if stream is None:
        yield NotFoundError("stdin: not available here; pass a file instead of '-'")
        return
    if kind == "jsonl":
        yield from jsonl.read_lines(stream, "stdin")
    else:
        yield formats.Source(stream.read(), kind, "stdin")


def _file(path: Path, kind: str) -> Iterator[Item]:
    name = str(path)
    try:
        if kind == "jsonl":
            with path.open("rb") as stream:
                yield from jsonl.read_lines(stream, name)
            return
        data = path.read_bytes()
    except OSError as exc:
        yield NotFoundError(
            f"{name}: cannot be read ({exc.strerror}); check that it exists and is readable"
        )
        return
    yield formats.Source(data, kind, name)
