"""Podcast feeds: RSS 2.0 with the ``itunes`` and ``podcast`` namespaces, as PSP-1 asks.

The Podcast Standards Project's RSS specification (PSP-1) requires, in the
channel, ``atom:link rel="self"``, ``title``, ``description``, ``link``,
``language`` (the RSS renderer writes those for every feed),
``itunes:category``, ``itunes:explicit`` and ``itunes:image``; it recommends
``podcast:locked``, ``podcast:guid`` and ``itunes:author``. Each item needs
``title``, ``enclosure`` and ``guid``; ``itunes:duration`` and
``podcast:transcript`` are recommended, ``itunes:episode``, ``itunes:season``
and ``itunes:episodeType`` optional.

feedgen has a podcast extension, but it is not used: it writes
``itunes:explicit`` only as yes/no/clean (PSP-1 wants true/false), checks
categories against Apple's list of 2013, and knows nothing of the ``podcast``
namespace. These extensions write exactly the elements above.
"""

from __future__ import annotations

from typing import Any

from feedgen.entry import FeedEntry
from feedgen.ext.base import BaseEntryExtension, BaseExtension
from feedgen.feed import FeedGenerator

from feeder._text import clean_line, clean_text
from feeder.entries import Entry, Episode, PodcastChannel

__all__ = ["ITUNES", "PODCAST", "add_episode", "make_podcast"]

ITUNES = "http://www.itunes.com/dtds/podcast-1.0.dtd"
PODCAST = "https://podcastindex.org/namespace/1.0"
_NAME = "feeder_podcast"
# Transcript types that carry time codes: linked as captions (podcast namespace, rel).
_CAPTIONS = ("text/vtt", "application/x-subrip")


def _element(parent: Any, name: str, value: str | None = None, **attributes: str) -> Any:
    element = parent.makeelement(name, attributes)
    if value is not None:
        element.text = value
    parent.append(element)
    return element


class _PodcastFeed(BaseExtension):  # type: ignore[misc]  # feedgen is untyped
    def __init__(self) -> None:
        self._channel: PodcastChannel | None = None

    def set(self, channel: PodcastChannel) -> None:
        self._channel = channel

    def extend_ns(self) -> dict[str, str]:
        return {"itunes": ITUNES, "podcast": PODCAST}

    def extend_rss(self, rss_feed: Any) -> Any:
        podcast = self._channel
        if podcast is None:
            return rss_feed
        channel = rss_feed[0]
        i, p = f"{{{ITUNES}}}", f"{{{PODCAST}}}"
        _element(channel, f"{i}image", href=clean_text(podcast.image))
        for path in podcast.categories:
            parent = next(
                (c for c in channel.findall(f"{i}category") if c.get("text") == path[0]), None
            )
            if parent is None:
                parent = _element(channel, f"{i}category", text=clean_text(path[0]))
            for name in path[1:]:
                _element(parent, f"{i}category", text=clean_text(name))
        _element(channel, f"{i}explicit", "true" if podcast.explicit else "false")
        _element(channel, f"{i}author", clean_line(podcast.author))
        if podcast.owner_email:
            owner = _element(channel, f"{i}owner")
            _element(owner, f"{i}name", clean_line(podcast.owner_name or podcast.author))
            _element(owner, f"{i}email", clean_text(podcast.owner_email))
        _element(channel, f"{i}type", podcast.type)
        if podcast.complete:
            _element(channel, f"{i}complete", "yes")
        _element(channel, f"{p}guid", clean_text(podcast.guid))
        locked = {"owner": clean_text(podcast.owner_email)} if podcast.owner_email else {}
        _element(channel, f"{p}locked", "yes" if podcast.locked else "no", **locked)
        if podcast.funding_url:
            _element(
                channel,
                f"{p}funding",
                clean_line(podcast.funding_text or "Support the show"),
                url=clean_text(podcast.funding_url),
            )
        return rss_feed


class _PodcastEntry(BaseEntryExtension):  # type: ignore[misc]  # feedgen is untyped
    def __init__(self) -> None:
        self._episode: Episode | None = None

    def set(self, episode: Episode | None) -> None:
        self._episode = episode

    def extend_rss(self, item: Any) -> Any:
        episode = self._episode
        if episode is None:
            return item
        i, p = f"{{{ITUNES}}}", f"{{{PODCAST}}}"
        if episode.duration is not None:
            _element(item, f"{i}duration", str(episode.duration))
        if episode.number is not None:
            _element(item, f"{i}episode", str(episode.number))
        if episode.season is not None:
            _element(item, f"{i}season", str(episode.season))
        if episode.type is not None:
            _element(item, f"{i}episodeType", episode.type)
        for transcript in episode.transcripts:
            captions = {"rel": "captions"} if transcript.media_type in _CAPTIONS else {}
            _element(
                item,
                f"{p}transcript",
                url=clean_text(transcript.url),
                type=clean_text(transcript.media_type),
                **captions,
            )
        if episode.chapters is not None:
            _element(
                item,
                f"{p}chapters",
                url=clean_text(episode.chapters.url),
                type=clean_text(episode.chapters.media_type),
            )
        return item


def make_podcast(fg: FeedGenerator, channel: PodcastChannel) -> None:
    """Make ``fg`` a podcast feed (before its entries are added)."""
    fg.register_extension(_NAME, _PodcastFeed, _PodcastEntry, atom=False, rss=True)
    getattr(fg, _NAME).set(channel)


def add_episode(fe: FeedEntry, entry: Entry) -> None:
    getattr(fe, _NAME).set(entry.episode)
