"""Site settings: feeder.toml, then FEEDER_* environment variables, then flags.

The result is a frozen :class:`Config`. Every problem is a :class:`ConfigError`
whose message names the key and says what would be accepted.
"""

from __future__ import annotations

import dataclasses
import os
import re
import secrets
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from feeder import _podcast
from feeder._ids import EMAIL, check_authority
from feeder.errors import ConfigError

__all__ = [
    "CONFIG_NAME",
    "AuthorConfig",
    "Config",
    "ContentConfig",
    "PodcastConfig",
    "ScheduleConfig",
    "ServerConfig",
    "create_config",
    "load",
]

CONFIG_NAME = "feeder.toml"

# What feed validators accept in RSS <language> and Atom xml:lang (RFC 5646, simplified).
_LANGUAGE = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$")


@dataclass(frozen=True)
class AuthorConfig:
    name: str = ""
    email: str = ""
    uri: str = ""


@dataclass(frozen=True)
class ScheduleConfig:
    poll_interval: float = 2.0
    rebuild_interval: float = 3600.0
    # PostgreSQL: build as soon as a change commits (LISTEN/NOTIFY); polling stays on.
    listen: bool = True


@dataclass(frozen=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 8080
    # Open connections at most (lowered to fit the open-file limit); beyond it a new
    # connection replaces the oldest idle one.
    max_connections: int = 1000
    # Seconds a client has to send a whole request (headers and body).
    request_timeout: float = 10.0


@dataclass(frozen=True)
class ContentConfig:
    max_content_bytes: int = 1_000_000
    max_title_chars: int = 500
    allow_iframes: bool = False


@dataclass(frozen=True)
class BuildConfig:
    # Worker processes a big full build may render in (at most one per CPU; 0: none).
    processes: int = 4


FEED_KINDS = ("site", "tags", "authors")
FEED_FORMATS = ("rss", "atom", "json")
STYLESHEETS = ("xslt", "css", "none")
#: Ten years: a tombstone is a notice to readers that still hold the entry, not an archive.
MAX_TOMBSTONE_DAYS = 3650
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


@dataclass(frozen=True)
class FeedsConfig:
    """Which feeds a site publishes, and how big they may be."""

    # Every selection (the site's, each tag's, each author's) in each of these formats.
    formats: tuple[str, ...] = FEED_FORMATS
    tags: bool = True  # a feed per tag, under tags/<tag>/
    authors: bool = True  # a feed per author, under authors/<author>/
    # A feed file carries the newest whole entries that fit; many readers refuse more.
    max_bytes: int = 1_048_576
    # Kinds of feed ("site", "tags", "authors") whose entries carry the summary only.
    summary_only: tuple[str, ...] = ()
    # How a browser shows a feed: an XSLT page, CSS on the XML, or raw XML.
    stylesheet: str = "xslt"
    # RFC 5005 archives: every entry of a selection with more than max_items, in fixed
    # pages of archive_page_size entries numbered from the oldest (archive/<n>/...).
    archives: bool = True
    archive_page_size: int = 50
    # Days a deleted article's tombstone (RFC 6721) stays in the Atom feeds; 0: none.
    tombstone_days: int = 30
    # Who deleted articles, as the tombstones say (at:by); "": not said.
    deleted_by: str = ""


@dataclass(frozen=True)
class PodcastConfig:
    """Podcast mode: the RSS feeds of ``feeds`` meet PSP-1 (feeder._podcast checks these).

    On as soon as ``[podcast]`` has a key (or a FEEDER_PODCAST_* variable is set),
    unless ``enabled = false``.
    """

    enabled: bool = False
    image: str = ""  # the artwork: an http(s) URL, or a JPEG/PNG file published with the site
    category: tuple[str, ...] = ()  # Apple's: "Technology", "Arts/Books"
    explicit: bool = False
    author: str = ""  # itunes:author (default: the site author)
    owner_name: str = ""  # itunes:owner (default: the author)
    owner_email: str = ""  # itunes:owner and podcast:locked's owner (default: author.email)
    locked: bool = True  # podcast:locked: other hosts may not import the feed
    type: str = "episodic"  # or "serial"
    complete: bool = False  # no more episodes will come
    funding: str = ""  # podcast:funding URL
    funding_text: str = ""
    guid: str = ""  # podcast:guid kept from a previous host (default: minted once)
    feeds: tuple[str, ...] = ("site",)  # which kinds of RSS feed are podcasts


@dataclass(frozen=True)
class Config:
    """Everything a site needs; paths are absolute once loaded."""

    title: str = "My feeder site"
    description: str = ""
    base_url: str = "http://127.0.0.1:8080/"
    language: str = "en"
    id_authority: str = ""
    output_dir: Path = Path("public")
    # Where local media files given to --enclosure are kept (content-addressed copies).
    media_dir: Path = Path("media")
    max_items: int = 50
    database_url: str = ""
    timezone: str = ""
    author: AuthorConfig = field(default_factory=AuthorConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    server: ServerConfig = field(default_factory=ServerConfig)
    content: ContentConfig = field(default_factory=ContentConfig)
    feeds: FeedsConfig = field(default_factory=FeedsConfig)
    # WebSub hubs every feed names and every build tells about changed feeds.
    websub_hub: tuple[str, ...] = ()
    podcast: PodcastConfig = field(default_factory=PodcastConfig)
    build: BuildConfig = field(default_factory=BuildConfig)
    # Where feeder.toml lives; relative paths in it are relative to this.
    root: Path = Path(".")

    @property
    def authority(self) -> str:
        """The tag: URI authority: ``id_authority``, else the host of ``base_url``."""
        if self.id_authority:
            return self.id_authority
        host = urlsplit(self.base_url).hostname or ""
        # An IP address is not a valid tag: authority (RFC 4151 section 2.1).
        return "localhost" if not host or host.replace(".", "").isdigit() or ":" in host else host

    @property
    def feed_author(self) -> str:
        return self.author.name or self.title

    @property
    def zone(self) -> ZoneInfo | None:
        return ZoneInfo(self.timezone) if self.timezone else None

    def url(self, path: str) -> str:
        """The absolute public URL of ``path`` inside the output directory."""
        return self.base_url + path.lstrip("/")


_SECTIONS: dict[str, type] = {
    "author": AuthorConfig,
    "schedule": ScheduleConfig,
    "server": ServerConfig,
    "content": ContentConfig,
    "feeds": FeedsConfig,
    "podcast": PodcastConfig,
    "build": BuildConfig,
}
_SURROGATE = re.compile("[\ud800-\udfff]")
# Overrides come from command-line flags; name the flag the user typed.
_FLAGS = {"database_url": "--db", "author.name": "--author"}
_TOP_LEVEL = {f.name for f in dataclasses.fields(Config)} - set(_SECTIONS) - {"root"}


def load(
    path: str | os.PathLike[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    must_exist: bool = True,
) -> Config:
    """Load settings from ``path`` (default ``./feeder.toml``), the environment and overrides.

    ``overrides`` uses dotted keys (``"server.port"``) and wins over everything.
    """
    environ = os.environ if environ is None else environ
    file = Path(path if path is not None else environ.get("FEEDER_CONFIG", CONFIG_NAME))
    raw: dict[str, Any] = {}
    if file.is_dir():
        file = file / CONFIG_NAME
    if file.exists():
        try:
            raw = tomllib.loads(file.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{file}: not valid TOML: {exc}") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{file}: cannot be read: {exc}") from None
    elif must_exist:
        raise ConfigError(
            f"{file} not found: run 'feeder init' to create a site, or pass --config PATH"
        )
    source = str(file)
    flat = _flatten(raw, source)
    for key in [
        *sorted(_TOP_LEVEL),
        *(f"{s}.{f.name}" for s, t in _SECTIONS.items() for f in dataclasses.fields(t)),
    ]:
        env_name = "FEEDER_" + key.replace(".", "_").upper()
        if env_name in environ and environ[env_name] != "":
            flat[key] = (environ[env_name], env_name)
    for key, value in (overrides or {}).items():
        if value is not None:
            flat[key] = (value, _FLAGS.get(key, f"--{key.rsplit('.', 1)[-1].replace('_', '-')}"))
    return _build(flat, file.resolve().parent)


def _flatten(raw: dict[str, Any], source: str) -> dict[str, tuple[Any, str]]:
    flat: dict[str, tuple[Any, str]] = {}
    for key, value in raw.items():
        if key in _SECTIONS:
            if not isinstance(value, dict):
                raise ConfigError(f"{source}: [{key}] must be a table")
            allowed = {f.name for f in dataclasses.fields(_SECTIONS[key])}
            for sub, sub_value in value.items():
                if sub not in allowed:
                    raise ConfigError(
                        f"{source}: unknown key '{key}.{sub}'; known keys in [{key}]: "
                        + ", ".join(sorted(allowed))
                    )
                flat[f"{key}.{sub}"] = (sub_value, f"{source}: {key}.{sub}")
        elif key in _TOP_LEVEL:
            flat[key] = (value, f"{source}: {key}")
        else:
            raise ConfigError(
                f"{source}: unknown key '{key}'; known keys: "
                + ", ".join(sorted(_TOP_LEVEL | set(_SECTIONS)))
            )
    return flat


def _coerce(value: Any, kind: Any, where: str) -> Any:
    if kind in (str, "str"):
        if not isinstance(value, str):
            raise ConfigError(f"{where}: must be a string, got {value!r}")
        if _SURROGATE.search(value):
            # What Python makes of bytes in an argument or variable that are not UTF-8.
            raise ConfigError(f"{where}: is not valid UTF-8 text; set it in UTF-8")
        return value
    if kind in (bool, "bool"):
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in (
            "1",
            "true",
            "yes",
            "on",
            "0",
            "false",
            "no",
            "off",
        ):
            return value.lower() in ("1", "true", "yes", "on")
        raise ConfigError(f"{where}: must be true or false, got {value!r}")
    if kind in (int, "int"):
        try:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError
            return int(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: must be a whole number, got {value!r}") from None
    if kind in (float, "float"):
        try:
            if isinstance(value, bool):
                raise ValueError
            return float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: must be a number, got {value!r}") from None
    if kind in ("tuple[str, ...]",):
        if isinstance(value, str):  # from an environment variable: comma-separated
            value = [item.strip() for item in value.split(",") if item.strip()]
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{where}: must be a list of strings, got {value!r}")
        return tuple(value)
    if kind in (Path, "Path"):
        if not isinstance(value, str | os.PathLike) or str(value) == "":
            raise ConfigError(f"{where}: must be a path, got {value!r}")
        return Path(value)
    raise AssertionError(kind)


def _build(flat: dict[str, tuple[Any, str]], root: Path) -> Config:
    top: dict[str, Any] = {}
    sections: dict[str, dict[str, Any]] = {name: {} for name in _SECTIONS}
    types = {f.name: f.type for f in dataclasses.fields(Config)}
    for key, (value, where) in flat.items():
        if "." in key:
            section, sub = key.split(".", 1)
            kind = {f.name: f.type for f in dataclasses.fields(_SECTIONS[section])}[sub]
            sections[section][sub] = _coerce(value, kind, where)
        else:
            top[key] = _coerce(value, types[key], where)
    config = Config(
        **top,
        **{name: _SECTIONS[name](**values) for name, values in sections.items()},
        root=root,
    )
    return _validate(config, flat)


def _where(flat: dict[str, tuple[Any, str]], key: str) -> str:
    return flat[key][1] if key in flat else key


def _validate(config: Config, flat: dict[str, tuple[Any, str]]) -> Config:
    def fail(key: str, message: str) -> ConfigError:
        return ConfigError(f"{_where(flat, key)}: {message}")

    if not config.title.strip():
        raise fail("title", "must not be empty")
    parts = urlsplit(config.base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise fail(
            "base_url",
            f"must be an absolute http(s) URL like "
            f"'https://example.org/blog/', got {config.base_url!r}",
        )
    base_url = config.base_url if config.base_url.endswith("/") else config.base_url + "/"
    try:
        check_authority(config.authority)
    except ValueError as exc:
        raise fail("id_authority", f"{exc}; use a domain you own, e.g. 'example.org'") from None
    if config.max_items < 1:
        raise fail("max_items", f"must be at least 1, got {config.max_items}")
    if config.schedule.poll_interval <= 0:
        raise fail("schedule.poll_interval", "must be a positive number of seconds")
    if config.schedule.rebuild_interval <= 0:
        raise fail("schedule.rebuild_interval", "must be a positive number of seconds")
    if not 0 <= config.build.processes <= 64:
        raise fail("build.processes", f"must be between 0 and 64, got {config.build.processes}")
    if config.server.max_connections < 1:
        raise fail("server.max_connections", "must be at least 1")
    if config.server.request_timeout <= 0:
        raise fail("server.request_timeout", "must be a positive number of seconds")
    if not 0 <= config.server.port <= 65535:
        raise fail("server.port", f"must be between 0 and 65535, got {config.server.port}")
    for key in ("max_content_bytes", "max_title_chars"):
        if getattr(config.content, key) < 1:
            raise fail(f"content.{key}", f"must be at least 1, got {getattr(config.content, key)}")
    feeds = config.feeds
    for key, allowed in (("formats", FEED_FORMATS), ("summary_only", FEED_KINDS)):
        unknown = [value for value in getattr(feeds, key) if value not in allowed]
        if unknown:
            raise fail(f"feeds.{key}", f"unknown {unknown[0]!r}; use some of {', '.join(allowed)}")
    if not feeds.formats:
        raise fail("feeds.formats", 'must name at least one format, e.g. ["rss", "atom"]')
    if feeds.max_bytes < 10_000:
        raise fail("feeds.max_bytes", f"must be at least 10000, got {feeds.max_bytes}")
    if feeds.archive_page_size < 1:
        raise fail("feeds.archive_page_size", f"must be at least 1, got {feeds.archive_page_size}")
    if feeds.stylesheet not in STYLESHEETS:
        raise fail("feeds.stylesheet", f"must be one of {', '.join(STYLESHEETS)}")
    if not 0 <= feeds.tombstone_days <= MAX_TOMBSTONE_DAYS:
        raise fail(
            "feeds.tombstone_days",
            f"must be between 0 (no tombstones) and {MAX_TOMBSTONE_DAYS}, "
            f"got {feeds.tombstone_days}",
        )
    if _CONTROL.search(feeds.deleted_by):
        raise fail("feeds.deleted_by", "must be a name on one line, without control characters")
    if not _LANGUAGE.match(config.language):
        raise fail(
            "language", f"{config.language!r} is not a language tag; use e.g. 'en' or 'pt-BR'"
        )
    if config.author.email and not EMAIL.match(config.author.email):
        raise fail(
            "author.email",
            f"{config.author.email!r} is not an email address like 'ann@example.org'",
        )
    author_uri = urlsplit(config.author.uri)
    if config.author.uri and (author_uri.scheme not in ("http", "https") or not author_uri.netloc):
        raise fail(
            "author.uri",
            f"{config.author.uri!r} is not an absolute http(s) URL like 'https://example.org/ann'",
        )
    if config.timezone:
        try:
            ZoneInfo(config.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise fail(
                "timezone",
                f"unknown time zone {config.timezone!r}; use an IANA name like 'Europe/Berlin'",
            ) from None
    websub_hub = _hub_urls(config.websub_hub, lambda message: fail("websub_hub", message))
    output_dir = config.output_dir
    if not output_dir.is_absolute():
        output_dir = config.root / output_dir
    media_dir = config.media_dir
    if not media_dir.is_absolute():
        media_dir = config.root / media_dir
    served, store = output_dir.resolve(), media_dir.resolve()
    if store == served or served in store.parents:
        raise fail(
            "media_dir",
            f"{str(media_dir)!r} is inside output_dir: keep the media store out of the served "
            "directory (a full build removes what it did not publish there), e.g. 'media'",
        )
    database_url = config.database_url or f"sqlite:///{config.root / 'feeder.db'}"
    database_url = _absolute_sqlite(database_url, config.root, fail)
    podcast = config.podcast
    if "podcast.enabled" not in flat and any(key.startswith("podcast.") for key in flat):
        podcast = dataclasses.replace(podcast, enabled=True)
    podcast = _podcast.check(
        podcast,
        lambda key: key in flat,
        fail,
        config.root,
        config.feeds.formats,
        config.description,
    )
    return dataclasses.replace(
        config,
        podcast=podcast,
        base_url=base_url,
        output_dir=output_dir,
        media_dir=media_dir,
        database_url=database_url,
        websub_hub=websub_hub,
    )


# What a hub URL may hold as it is: RFC 3986 characters. It goes into every feed and into
# HTTP Link headers, where a space, a quote or an angle bracket would end it early.
_URL_CHARACTERS = re.compile(r"^[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+$")


def _hub_urls(hubs: tuple[str, ...], fail: Any) -> tuple[str, ...]:
    """The hubs, each checked, in the order given and each once."""
    example = "use e.g. 'https://pubsubhubbub.appspot.com/'"
    for hub in hubs:
        try:
            parts = urlsplit(hub)
            parts.port  # noqa: B018  (a port that is no number raises here)
        except ValueError:
            raise fail(f"{hub!r} is not a URL; {example}") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise fail(f"{hub!r} is not an absolute http(s) URL; {example}")
        if not _URL_CHARACTERS.match(hub):
            raise fail(f"{hub!r} has characters a URL cannot hold as they are; percent-encode them")
        if parts.username is not None or parts.password is not None:
            raise fail(f"{hub!r} carries a user name or password, which every feed would publish")
        if parts.fragment:
            raise fail(f"{hub!r} has a #fragment, which never reaches the hub; remove it")
    return tuple(dict.fromkeys(hubs))


def _absolute_sqlite(url: str, root: Path, fail: Any) -> str:
    try:
        from db.engine import normalise_url  # SQLAlchemy, only when a database is named

        return normalise_url(url, root)
    except ValueError as exc:
        raise fail("database_url", str(exc)) from None


_CONFIG_TEMPLATE = """\
# feeder site settings. Every key is optional except where noted.
title = {title}
description = {description}
# Public address of the output directory; feed self links and article URLs use it.
base_url = {base_url}
language = "en"
# Authority for permanent article ids (tag: URIs); defaults to base_url's host.
# Set it once and never change it.
id_authority = {authority}
output_dir = "public"
max_items = 50
# database_url = "postgresql+psycopg://user@host/dbname"  (default: feeder.db here)
# WebSub hubs to tell of every change (one URL or a list):
# websub_hub = "https://pubsubhubbub.appspot.com/"

[author]
name = {author}
# email = "you@example.org"

[schedule]
poll_interval = 2        # seconds between checks for changes
rebuild_interval = 3600  # seconds between full rebuilds

[server]
host = "127.0.0.1"
port = 8080
"""


def _toml_string(value: str) -> str:
    """``value`` as a TOML basic string: backslash, quote and control characters escaped."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + _TOML_CONTROL.sub(lambda m: f"\\u{ord(m.group()):04x}", escaped) + '"'


# What a TOML basic string may not hold as it is (tab may stay).
_TOML_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f]")


def new_site_authority(base_url: str, given: str | None) -> tuple[str, str | None]:
    """The id authority a new site gets, and a warning when it had to be made up.

    Ids (tag: URIs) are minted with it once and never change, so it must be a
    name the publisher owns. A base URL on localhost or an IP address has none:
    every such site would mint the same ids. It gets a name of its own under
    .invalid (RFC 2606: never anyone's domain) and a warning saying to set one.
    """
    if given:
        return given, None
    authority = Config(base_url=base_url).authority
    if authority != "localhost":
        return authority, None
    made_up = f"site-{secrets.token_hex(4)}.feeder.invalid"
    return made_up, (
        f"id_authority: {base_url} has no domain name, so this site's permanent ids use "
        f"'{made_up}'; set id_authority in feeder.toml to a domain you own before "
        "publishing (ids never change afterwards)"
    )


def create_config(
    directory: Path,
    *,
    title: str,
    base_url: str,
    author: str | None = None,
    id_authority: str | None = None,
) -> Path:
    """Write ``directory``/feeder.toml for a new site (an existing one is kept); its path.

    The settings are checked first, so a bad value is named and nothing is left behind.
    """
    path = directory / CONFIG_NAME
    if path.exists():
        return path
    load(
        path,
        environ={},
        must_exist=False,
        overrides={
            "title": title,
            "base_url": base_url,
            "id_authority": id_authority,
            "author.name": author,
        },
    )
    text = _CONFIG_TEMPLATE.format(
        title=_toml_string(title),
        description=_toml_string(f"Latest articles from {title}"),
        base_url=_toml_string(base_url),
        authority=_toml_string(new_site_authority(base_url, id_authority)[0]),
        author=_toml_string(author or title),
    )
    temp = directory / f".{CONFIG_NAME}.new"
    temp.write_text(text, encoding="utf-8")
    try:
        load(temp, environ={})
    except Exception:
        temp.unlink()
        raise
    temp.replace(path)
    return path
