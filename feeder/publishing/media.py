"""Publishing media files: from the site's media store to ``media/`` in the output directory.

A local file given as an enclosure, transcript or chapters is kept in the
media store (``media_dir``) as ``<hash>/<name>``. Every entry a build
publishes has its files copied to ``media/<hash>/<name>``, atomically and only
when missing (the name is the content's hash, so a file of that name and size
is that file); the podcast artwork file is published the same way. A full
build removes what nothing published refers to any more, so the files of a
deleted or scheduled article are not served.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Sequence
from pathlib import Path

from feeder import _media
from feeder.config import Config
from feeder.entries import Enclosure, Entry

__all__ = ["MediaFiles", "local_files"]


def local_files(entry: Entry) -> tuple[Enclosure, ...]:
    """The media files of ``entry`` kept in the media store (enclosures, transcripts,
    chapters given as local files): those a build publishes with it."""
    files: list[Enclosure] = list(entry.enclosures)
    if entry.episode is not None:
        files += entry.episode.transcripts
        if entry.episode.chapters is not None:
            files.append(entry.episode.chapters)
    return tuple(item for item in files if item.file is not None)


class MediaFiles:
    """The media files one build publishes.

    ``copy(relative, source, size)`` writes a file inside the output directory
    and ``remove(relative)`` deletes one (the build's writer, which keeps every
    path inside it); ``kept()`` counts a file that was already there;
    ``problem(key, message)`` reports once.
    """

    def __init__(
        self,
        config: Config,
        copy: Callable[[str, Path, int], None],
        remove: Callable[[str], None],
        problem: Callable[[object, str], None],
        kept: Callable[[], None] = lambda: None,
    ) -> None:
        self._config = config
        self._copy = copy
        self._remove = remove
        self._problem = problem
        self._kept = kept
        self._done: set[str] = set()  # files (<hash>/<name>) published by this build

    def publish(self, entry: Entry) -> None:
        """Publish the local files of ``entry`` (its enclosures, transcripts, chapters)."""
        self.publish_files(entry.slug, local_files(entry))

    def publish_files(self, slug: str, files: Sequence[Enclosure]) -> None:
        """Publish ``files``, local media files of the article ``slug``."""
        for item in files:
            if item.file is not None and item.file not in self._done:
                self._done.add(item.file)
                self._from_store(item.file, item.length, slug)

    def _from_store(self, file: str, length: int | None, slug: str) -> None:
        target = _media.published_path(file)
        if length is not None:
            # Most builds find every file in place: one stat, nothing written. (Only
            # reading: a file that must be written goes through the writer's checks.)
            try:
                if (self._config.output_dir / target).stat().st_size == length:
                    self._kept()
                    return
            except OSError:
                pass
        source = self._config.media_dir / file
        try:
            size = source.stat().st_size
        except OSError:
            if not (self._config.output_dir / target).is_file():
                self._problem(
                    ("media", file),
                    f"article {slug!r}: {target} is missing from the media store "
                    f"({self._config.media_dir}); restore it there, or edit the article",
                )
            return
        self._copy(target, source, size)

    def publish_file(self, source: Path, file: str) -> None:
        """Publish ``source`` (the podcast artwork) as ``media/<file>``."""
        self._done.add(file)
        self._copy(_media.published_path(file), source, source.stat().st_size)

    def sweep(self) -> None:
        """Remove published media files that nothing this (full) build published refers to."""
        root = self._config.output_dir / _media.MEDIA_DIR
        if not root.is_dir() or root.is_symlink():
            return
        for folder in sorted(os.listdir(root)):
            directory = root / folder
            if not directory.is_dir() or directory.is_symlink():
                continue
            for name in sorted(os.listdir(directory)):
                file = f"{folder}/{name}"
                if _media.is_safe_file(file) and file not in self._done:
                    self._remove(_media.published_path(file))
            with contextlib.suppress(OSError):
                directory.rmdir()  # only when it is empty
