"""Storage for feeder: the only package that speaks SQL or takes database locks.

It knows nothing about feeds. The domain asks :class:`Storage` for a
transaction and calls the typed methods of its :class:`Reader` or
:class:`Writer`; rows come back as plain records, and failures as
:class:`StorageFailure`.

Names are loaded on first use: a worker process that only needs the plain
values (db.values) never loads SQLAlchemy.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from db.engine import create as create_engine
    from db.errors import Clash as Clash
    from db.errors import Missing as Missing
    from db.errors import StorageFailure as StorageFailure
    from db.locks import Lock as Lock
    from db.locks import LockUnavailable as LockUnavailable
    from db.locks import owner as owner
    from db.models import LIMITS as LIMITS
    from db.models import Article as Article
    from db.models import Author as Author
    from db.models import Removal as Removal
    from db.models import RemovalSelection as RemovalSelection
    from db.models import State as State
    from db.models import Tag as Tag
    from db.models import WebSubPing as WebSubPing
    from db.notify import ChangeListener as ChangeListener
    from db.pages import PageBounds as PageBounds
    from db.pages import PagesHead as PagesHead
    from db.pages import Position as Position
    from db.pages import selection_key as selection_key
    from db.pings import HubRecord as HubRecord
    from db.pings import PingOutcome as PingOutcome
    from db.records import BuildState as BuildState
    from db.records import DaemonRecord as DaemonRecord
    from db.records import OutputRecord as OutputRecord
    from db.records import StateRecord as StateRecord
    from db.records import StoredRemoval as StoredRemoval
    from db.storage import Reader as Reader
    from db.storage import Storage as Storage
    from db.storage import Writer as Writer
    from db.tombstones import StoredTombstone as StoredTombstone
    from db.values import EpisodeValues as EpisodeValues
    from db.values import MediaValues as MediaValues
    from db.values import Selection as Selection
    from db.values import StoredArticle as StoredArticle
    from db.values import StoredEpisode as StoredEpisode
    from db.values import StoredMedia as StoredMedia
    from db.values import StoredPerson as StoredPerson
    from db.writes import ArticleValues as ArticleValues
    from db.writes import PersonValues as PersonValues
    from db.writes import WritePlan as WritePlan

# Public name -> (module, name in it); keep __all__ below in step.
_EXPORTS = {
    "Article": ("db.models", "Article"),
    "ArticleValues": ("db.writes", "ArticleValues"),
    "Author": ("db.models", "Author"),
    "BuildState": ("db.records", "BuildState"),
    "ChangeListener": ("db.notify", "ChangeListener"),
    "Clash": ("db.errors", "Clash"),
    "DaemonRecord": ("db.records", "DaemonRecord"),
    "EpisodeValues": ("db.values", "EpisodeValues"),
    "HubRecord": ("db.pings", "HubRecord"),
    "LIMITS": ("db.models", "LIMITS"),
    "Lock": ("db.locks", "Lock"),
    "LockUnavailable": ("db.locks", "LockUnavailable"),
    "MediaValues": ("db.values", "MediaValues"),
    "Missing": ("db.errors", "Missing"),
    "OutputRecord": ("db.records", "OutputRecord"),
    "PageBounds": ("db.pages", "PageBounds"),
    "PagesHead": ("db.pages", "PagesHead"),
    "PersonValues": ("db.writes", "PersonValues"),
    "PingOutcome": ("db.pings", "PingOutcome"),
    "Position": ("db.pages", "Position"),
    "Reader": ("db.storage", "Reader"),
    "Removal": ("db.models", "Removal"),
    "RemovalSelection": ("db.models", "RemovalSelection"),
    "Selection": ("db.values", "Selection"),
    "State": ("db.models", "State"),
    "StateRecord": ("db.records", "StateRecord"),
    "Storage": ("db.storage", "Storage"),
    "StorageFailure": ("db.errors", "StorageFailure"),
    "StoredArticle": ("db.values", "StoredArticle"),
    "StoredEpisode": ("db.values", "StoredEpisode"),
    "StoredMedia": ("db.values", "StoredMedia"),
    "StoredPerson": ("db.values", "StoredPerson"),
    "StoredRemoval": ("db.records", "StoredRemoval"),
    "StoredTombstone": ("db.tombstones", "StoredTombstone"),
    "Tag": ("db.models", "Tag"),
    "WebSubPing": ("db.models", "WebSubPing"),
    "WritePlan": ("db.writes", "WritePlan"),
    "Writer": ("db.storage", "Writer"),
    "create_engine": ("db.engine", "create"),
    "owner": ("db.locks", "owner"),
    "selection_key": ("db.pages", "selection_key"),
}

__all__ = [
    "LIMITS",
    "Article",
    "ArticleValues",
    "Author",
    "BuildState",
    "ChangeListener",
    "Clash",
    "DaemonRecord",
    "EpisodeValues",
    "HubRecord",
    "Lock",
    "LockUnavailable",
    "MediaValues",
    "Missing",
    "OutputRecord",
    "PageBounds",
    "PagesHead",
    "PersonValues",
    "PingOutcome",
    "Position",
    "Reader",
    "Removal",
    "RemovalSelection",
    "Selection",
    "State",
    "StateRecord",
    "Storage",
    "StorageFailure",
    "StoredArticle",
    "StoredEpisode",
    "StoredMedia",
    "StoredPerson",
    "StoredRemoval",
    "StoredTombstone",
    "Tag",
    "WebSubPing",
    "WritePlan",
    "Writer",
    "create_engine",
    "owner",
    "selection_key",
]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'db' has no attribute {name!r}")
    module, attribute = _EXPORTS[name]
    value = getattr(import_module(module), attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
