"""Podcast mode in a build: which feeds are podcasts, and what their channels say.

The RSS feeds of the kinds in ``podcast.feeds`` (the site's, by default) are
podcast feeds: they carry the articles that have an enclosure (PSP-1 requires
one in every item) with the ``itunes`` and ``podcast`` elements. Each podcast
feed has a ``podcast:guid``, minted once from its URL the first time it is
published and stored in the database, so that it stays when ``base_url``
moves (``podcast.guid`` sets the site feed's, e.g. one kept from a previous
host). The artwork, when it is a local file, is published under ``media/``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping

from feeder import _media, _podcast
from feeder.config import Config
from feeder.entries import PodcastChannel
from feeder.errors import ConfigError
from feeder.publishing.media import MediaFiles

__all__ = ["Podcasts", "settings"]

SITE_FEED_KIND = "site"


def settings(config: Config) -> dict[str, object] | None:
    """What of podcast mode shapes the output (for the settings fingerprint); None when off."""
    podcast = config.podcast
    if not podcast.enabled:
        return None
    shaping: dict[str, object] = dataclasses.asdict(podcast)
    image = _podcast.image_file(config)
    if image is not None:
        try:
            shaping["image"] = _podcast.published_image(image)
        except OSError as exc:
            raise ConfigError(
                f"podcast.image: cannot read {str(image)!r}: {exc.strerror}; check the path"
            ) from None
    return shaping


class Podcasts:
    """The podcast channels of one build.

    ``stored``: each feed's podcast:guid from the database, by path; the guids
    this build mints are in :attr:`minted` for the build to store.
    """

    def __init__(
        self,
        config: Config,
        stored: Mapping[str, object],
        media: MediaFiles,
        problem: Callable[[object, str], None],
    ) -> None:
        self._config = config
        self._stored = stored
        self._problem = problem
        self.minted: dict[str, tuple[str, str]] = {}
        self._image = ""
        if config.podcast.enabled:
            self._image = self._publish_image(media)

    def _publish_image(self, media: MediaFiles) -> str:
        path = _podcast.image_file(self._config)
        if path is None:
            return self._config.podcast.image
        try:
            file = _podcast.published_image(path)
            media.publish_file(path, file)
        except OSError as exc:
            raise ConfigError(
                f"podcast.image: cannot read {str(path)!r}: {exc.strerror}; check the path"
            ) from None
        return self._config.url(_media.published_path(file))

    def channel(self, kind: str, path: str, format_name: str) -> PodcastChannel | None:
        """The podcast channel of the feed at ``path``, or None when it is no podcast."""
        podcast = self._config.podcast
        if not podcast.enabled or format_name != "rss" or kind not in podcast.feeds:
            return None
        config = self._config
        author = podcast.author or config.feed_author
        return PodcastChannel(
            guid=self._guid(kind, path),
            image=self._image,
            categories=_podcast.categories(podcast.category),
            explicit=podcast.explicit,
            author=author,
            owner_name=podcast.owner_name or author,
            owner_email=podcast.owner_email or config.author.email,
            locked=podcast.locked,
            type=podcast.type,
            complete=podcast.complete,
            funding_url=podcast.funding,
            funding_text=podcast.funding_text,
        )

    def _guid(self, kind: str, path: str) -> str:
        if kind == SITE_FEED_KIND and self._config.podcast.guid:
            return self._config.podcast.guid
        stored = self._stored.get(path)
        if _podcast.is_guid(stored):
            assert isinstance(stored, str)
            return stored
        url = self._config.url(path)
        guid = _podcast.mint_guid(url)
        if stored is not None:
            self._problem(
                ("podcast guid", path),
                f"{path}: the stored podcast:guid {str(stored)[:40]!r} is not a UUID; "
                f"publishing {guid}, minted from {url}: correct the podcast_guids row",
            )
        else:
            self.minted[path] = (guid, url)
        return guid
