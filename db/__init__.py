"""Storage for feeder: the only package that speaks SQL or takes database locks.

It knows nothing about feeds. The domain asks :class:`Storage` for a
transaction and calls the typed methods of its :class:`Reader` or
:class:`Writer`; rows come back as plain records, and failures as
:class:`StorageFailure`.
"""

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
from db.pages import Position as Position
from db.pages import selection_key as selection_key
from db.pings import HubRecord as HubRecord
from db.pings import PingOutcome as PingOutcome
from db.queries import Selection as Selection
from db.records import BuildState as BuildState
from db.records import DaemonRecord as DaemonRecord
from db.records import OutputRecord as OutputRecord
from db.records import StateRecord as StateRecord
from db.records import StoredArticle as StoredArticle
from db.records import StoredEpisode as StoredEpisode
from db.records import StoredMedia as StoredMedia
from db.records import StoredPerson as StoredPerson
from db.records import StoredRemoval as StoredRemoval
from db.storage import Reader as Reader
from db.storage import Storage as Storage
from db.storage import Writer as Writer
from db.tombstones import StoredTombstone as StoredTombstone
from db.writes import ArticleValues as ArticleValues
from db.writes import EpisodeValues as EpisodeValues
from db.writes import MediaValues as MediaValues
from db.writes import PersonValues as PersonValues
from db.writes import WritePlan as WritePlan

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
