"""Commands that change or show articles: add, list, show, edit, delete."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from feeder.cli import cli
from feeder.cli._common import echo_json, fmt_time, open_site, read_content

if TYPE_CHECKING:
    from feeder.articles import Article
    from feeder.entries import Media

_CONTENT_FORMATS = ("md", "html", "text")
_FORMAT = click.option(
    "--format",
    "kind",
    type=click.Choice(_CONTENT_FORMATS),
    default=None,
    help="What --content-file holds (default: from its extension, else html).",
)


_EPISODE_TYPES = ("full", "trailer", "bonus")


_F = TypeVar("_F", bound=Callable[..., Any])


def _media_options(*, edit: bool) -> Callable[[_F], _F]:
    """The options for media files and episode fields, shared by add and edit."""
    replaces = " Replaces the stored ones." if edit else ""
    clear = " ('' removes it)" if edit else ""
    options = [
        click.option(
            "--enclosure",
            "enclosures",
            multiple=True,
            metavar="URL_OR_PATH",
            help="A media file (audio, video, image, PDF): an http(s) URL, or a local file, "
            "which is published with the site. Repeat for several; RSS carries the first as "
            f"its enclosure.{replaces}",
        ),
        click.option(
            "--enclosure-type",
            "enclosure_types",
            multiple=True,
            metavar="MIME",
            help="Media type of the --enclosure in the same position ('' for the default: "
            "from the file name, e.g. audio/mpeg for .mp3).",
        ),
        click.option(
            "--enclosure-length",
            "enclosure_lengths",
            multiple=True,
            metavar="BYTES",
            help="Size of the --enclosure URL in the same position ('' for none); a local "
            "file's is read from it. RSS requires a length: an unknown one is written as 0, "
            "as the RSS Best Practices Profile says.",
        ),
        click.option(
            "--transcript",
            "transcripts",
            multiple=True,
            metavar="URL_OR_PATH",
            help="A transcript or captions file (.vtt, .srt, .html, .txt, .json); repeat for "
            f"several formats.{replaces}",
        ),
        click.option(
            "--transcript-type",
            "transcript_types",
            multiple=True,
            metavar="MIME",
            help="Media type of the --transcript in the same position (default: from its name).",
        ),
        click.option(
            "--chapters",
            default=None,
            metavar="URL_OR_PATH",
            help=f"A chapters file (JSON, podcast namespace){clear}.",
        ),
        click.option(
            "--duration",
            default=None,
            metavar="SECONDS|H:MM:SS",
            help=f"How long the episode plays{clear}.",
        ),
        click.option(
            "--episode",
            default=None,
            metavar="N",
            help=f"Episode number, 1 or more{clear}.",
        ),
        click.option(
            "--season", default=None, metavar="N", help=f"Season number, 1 or more{clear}."
        ),
        click.option(
            "--episode-type",
            default=None,
            metavar="|".join(_EPISODE_TYPES),
            help=f"full (the default), trailer or bonus{clear}.",
        ),
    ]
    if edit:
        options += [
            click.option("--clear-enclosures", is_flag=True, help="Remove all enclosures."),
            click.option("--clear-transcripts", is_flag=True, help="Remove all transcripts."),
        ]

    def apply(function: _F) -> _F:
        for option in reversed(options):
            function = option(function)
        return function

    return apply


def _paired(
    sources: tuple[str, ...],
    types: tuple[str, ...],
    lengths: tuple[str, ...],
    flag: str,
) -> list[Media]:
    """Each source with the type and length given in the same position ('' for none)."""
    from feeder.entries import Media
    from feeder.errors import InputError

    for name, given in ((f"{flag}-type", types), (f"{flag}-length", lengths)):
        if len(given) > len(sources):
            raise InputError(
                f"{name}: given {len(given)} times for {len(sources)} --{flag}; give at most "
                f"one per --{flag}, in the same order"
            )
    media = []
    for n, source in enumerate(sources):
        length = lengths[n].strip() if n < len(lengths) else ""
        if length and not (length.isdigit() and length.isascii()):
            what = "negative" if length.startswith("-") and length[1:].isdigit() else "not a number"
            raise InputError(
                f"{flag}-length: {length!r} is {what}; give the size in bytes, or '' if unknown"
            )
        media.append(
            Media(
                source,
                (types[n] or None) if n < len(types) else None,
                int(length) if length else None,
            )
        )
    return media


def _media_changes(options: dict[str, Any], *, edit: bool) -> dict[str, Any]:
    """Keyword arguments for Site.add_article or edit_article from the media options."""
    changes: dict[str, Any] = {}
    enclosures = _paired(
        options["enclosures"],
        options["enclosure_types"],
        options["enclosure_lengths"],
        "enclosure",
    )
    transcripts = _paired(options["transcripts"], options["transcript_types"], (), "transcript")
    if enclosures or not edit or options.get("clear_enclosures"):
        changes["enclosures"] = enclosures
    if transcripts or not edit or options.get("clear_transcripts"):
        changes["transcripts"] = transcripts
    for key in ("chapters", "duration", "episode", "season", "episode_type"):
        value = options[key]
        if value is not None:
            changes[key] = value or None
    return changes


def _content(path: str, kind: str | None) -> str:
    """The content file as HTML, converted from Markdown or text when it is that."""
    from feeder.importing import formats

    guessed = formats.format_of(path) if path != "-" else None
    kind = kind or (guessed if guessed in _CONTENT_FORMATS else "html")
    return formats.to_html(read_content(path), kind, "stdin" if path == "-" else path)


def _print_added(article: Article, as_json: bool) -> None:
    if as_json:
        echo_json(article.to_dict())
    else:
        click.echo(f"{article.slug}\t{article.id}")


@cli.command()
@click.option("--title", required=True, help="Title (required).")
@click.option("--slug", default=None, help="URL name; derived from the title when omitted.")
@click.option("--link", default=None, metavar="URL", help="External URL the entry points to.")
@click.option(
    "--summary", default=None, help="Plain-text summary; derived from content if omitted."
)
@click.option("--author", default=None, metavar="NAME", help="Author name (default: the site's).")
@click.option("--tag", "tags", multiple=True, metavar="TAG", help="A tag; repeat for several.")
@click.option(
    "--published",
    default=None,
    metavar="ISO-8601",
    help="Publication time; in the future it schedules the article (default: now).",
)
@click.option(
    "--updated", default=None, metavar="ISO-8601", help="Last update (default: published)."
)
@click.option(
    "--id",
    "uid",
    default=None,
    metavar="URI",
    help="Keep an existing feed id instead of minting a tag: URI.",
)
@click.option(
    "--content-file",
    default=None,
    metavar="PATH|-",
    help="Read the content (Markdown, HTML or text) from a file, or '-' for stdin.",
)
@_FORMAT
@_media_options(edit=False)
@click.option("--json", "as_json", is_flag=True, help="Print the new article as JSON.")
@click.pass_context
def add(
    ctx: click.Context,
    /,
    title: str,
    slug: str | None,
    link: str | None,
    summary: str | None,
    author: str | None,
    tags: tuple[str, ...],
    published: str | None,
    updated: str | None,
    uid: str | None,
    content_file: str | None,
    kind: str | None,
    as_json: bool,
    **media: Any,
) -> None:
    """Add an article and print its slug and permanent id."""
    content = _content(content_file, kind) if content_file else ""
    media_changes = _media_changes(media, edit=False)
    with open_site(ctx) as site:
        article = site.add_article(
            title,
            slug=slug,
            link=link,
            summary=summary,
            content=content,
            author=author,
            tags=tags,
            published=published,
            updated=updated,
            id=uid,
            **media_changes,
        )
    _print_added(article, as_json)


@cli.command("list")
@click.option(
    "--status",
    type=click.Choice(["all", "published", "scheduled"]),
    default="all",
    show_default=True,
    help="Which articles to list.",
)
@click.option(
    "--deleted",
    is_flag=True,
    help="List the tombstones of deleted articles that feeds carry now, instead.",
)
@click.option("--limit", type=click.IntRange(min=1), default=None, help="At most this many.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@click.pass_context
def list_(ctx: click.Context, status: Any, deleted: bool, limit: int | None, as_json: bool) -> None:
    """List articles, newest first (or, with --deleted, what feeds say was deleted)."""
    if deleted:
        if status != "all":
            raise click.UsageError("--status: deleted articles have none; leave it out")
        _list_tombstones(ctx, limit, as_json)
        return
    with open_site(ctx) as site:
        articles = site.list_articles(
            status=status,
            limit=limit,
            on_unreadable=lambda message: click.echo(f"warning: {message}", err=True),
        )
        now = site.now()
    if as_json:
        echo_json([article.to_dict(now) for article in articles])
        return
    for article in articles:
        state = "scheduled" if article.is_scheduled(now) else "published"
        click.echo(f"{fmt_time(article.published_at)}  {state:<9}  {article.slug}  {article.title}")


@cli.command()
@click.argument("slug")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object.")
@click.pass_context
def show(ctx: click.Context, slug: str, as_json: bool) -> None:
    """Show one article."""
    with open_site(ctx) as site:
        article = site.get_article(slug)
        now = site.now()
    data = article.to_dict(now)
    if as_json:
        data["content"] = article.content
        echo_json(data)
        return
    author = article.author.name if article.author else "-"
    for label, value in [
        ("title", article.title),
        ("slug", article.slug),
        ("id", article.id),
        ("status", data["status"]),
        ("url", article.url),
        ("link", article.link or "-"),
        ("author", author),
        ("tags", ", ".join(t.name for t in article.tags) or "-"),
        ("published", fmt_time(article.published_at)),
        ("updated", fmt_time(article.updated_at)),
        ("created", fmt_time(article.created_at)),
        ("words", f"{article.word_count} ({article.reading_minutes} min read)"),
        ("summary", article.summary),
        *_shown_media(article),
    ]:
        click.echo(f"{label + ':':<11}{value}")


def _shown_media(article: Article) -> list[tuple[str, str]]:
    def one(item: Any) -> str:
        size = "unknown size" if item.length is None else f"{item.length} bytes"
        return f"{item.url} ({item.media_type}, {size})"

    lines = [("enclosure", one(item)) for item in article.enclosures]
    episode = article.episode
    if episode is not None:
        if episode.duration is not None:
            hours, rest = divmod(episode.duration, 3600)
            lines.append(("duration", f"{hours}:{rest // 60:02d}:{rest % 60:02d}"))
        for label, number in (("episode", episode.number), ("season", episode.season)):
            if number is not None:
                lines.append((label, str(number)))
        if episode.type is not None:
            lines.append(("type", episode.type))
        lines += [("transcript", one(item)) for item in episode.transcripts]
        if episode.chapters is not None:
            lines.append(("chapters", one(episode.chapters)))
    return lines


@cli.command()
@click.argument("slug")
@click.option("--title", default=None, help="New title.")
@click.option("--slug", "new_slug", default=None, help="New slug (the id stays the same).")
@click.option("--link", default=None, metavar="URL", help="New external URL; '' removes it.")
@click.option("--summary", default=None, help="New summary; '' derives it from the content.")
@click.option("--author", default=None, metavar="NAME", help="New author; '' removes it.")
@click.option("--tag", "tags", multiple=True, metavar="TAG", help="Replace the tags; repeatable.")
@click.option("--clear-tags", is_flag=True, help="Remove all tags.")
@click.option("--published", default=None, metavar="ISO-8601", help="New publication time.")
@click.option(
    "--content-file", default=None, metavar="PATH|-", help="New content from a file or stdin."
)
@_FORMAT
@_media_options(edit=True)
@click.option("--json", "as_json", is_flag=True, help="Print the article as JSON.")
@click.pass_context
def edit(
    ctx: click.Context,
    /,
    slug: str,
    title: str | None,
    new_slug: str | None,
    link: str | None,
    summary: str | None,
    author: str | None,
    tags: tuple[str, ...],
    clear_tags: bool,
    published: str | None,
    content_file: str | None,
    kind: str | None,
    as_json: bool,
    **media: Any,
) -> None:
    """Change an article. Only the given fields change; the id never does."""
    changes: dict[str, Any] = {}
    for key, value in [
        ("title", title),
        ("new_slug", new_slug),
        ("summary", summary),
        ("published", published),
    ]:
        if value is not None:
            changes[key] = value
    if link is not None:
        changes["link"] = link or None
    if author is not None:
        changes["author"] = author or None
    if tags or clear_tags:
        changes["tags"] = () if clear_tags else tags
    if content_file is not None:
        changes["content"] = _content(content_file, kind)
    changes.update(_media_changes(media, edit=True))
    with open_site(ctx) as site:
        article = site.edit_article(slug, **changes)
    _print_added(article, as_json)


def _list_tombstones(ctx: click.Context, limit: int | None, as_json: bool) -> None:
    from feeder._tombstones import enabled

    with open_site(ctx) as site:
        if not enabled(site.config):
            click.echo(
                "note: feeds announce no deletions (feeds.tombstone_days is 0, "
                "or feeds.formats has no atom)",
                err=True,
            )
        tombstones = site.list_tombstones(
            limit=limit, on_unreadable=lambda message: click.echo(f"warning: {message}", err=True)
        )
    if as_json:
        echo_json([tombstone.to_dict() for tombstone in tombstones])
        return
    for tombstone in tombstones:
        comment = f"  {tombstone.comment}" if tombstone.comment else ""
        click.echo(
            f"{fmt_time(tombstone.deleted_at)}  deleted    {tombstone.slug}  {tombstone.id}  "
            f"until {fmt_time(tombstone.expires_at)}{comment}"
        )


@cli.command()
@click.argument("slug", required=False)
@click.option(
    "--comment",
    default=None,
    metavar="TEXT",
    help="Why it was deleted; Atom feeds show it with the deletion (at:comment).",
)
@click.option(
    "--purge",
    is_flag=True,
    help="Remove it for good, with every trace of its deletion: no tombstone tells "
    "readers, and its id may be used again. Also for an article deleted before.",
)
@click.option(
    "--id", "uid", default=None, metavar="URI", help="With --purge: the article's id, not its slug."
)
@click.option("-y", "--yes", is_flag=True, help="With --purge: do not ask for confirmation.")
@click.pass_context
def delete(
    ctx: click.Context,
    slug: str | None,
    comment: str | None,
    purge: bool,
    uid: str | None,
    yes: bool,
) -> None:
    """Delete an article: it leaves every feed and page on the next build, and its
    Atom feeds announce the deletion for feeds.tombstone_days (an RFC 6721 tombstone)."""
    if uid is not None and not purge:
        raise click.UsageError("--id: only with --purge; delete an article by its slug")
    if (slug is None) == (uid is None):
        raise click.UsageError(
            "give the SLUG of the article, or --purge --id URI for an article by its id"
        )
    if purge and comment is not None:
        raise click.UsageError("--comment: a purged article leaves no tombstone to carry it")
    with open_site(ctx) as site:
        if not purge:
            article = site.delete_article(slug or "", comment=comment)
            click.echo(f"deleted\t{article.slug}\t{article.id}")
            return
        target = site.purge(slug, id=uid, dry_run=True)
        if not yes:
            _confirm_purge(target.slug, target.id, target.article)
        purged = site.purge(id=target.id)
    click.echo(f"purged\t{purged.slug}\t{purged.id}")


def _confirm_purge(slug: str, uid: str, live: bool) -> None:
    what = f"the article {slug!r}" if live else f"what is left of the deleted article {slug!r}"
    if not sys.stdin.isatty():
        raise click.UsageError(
            f"--purge removes {what} for good, and stdin is not a terminal to ask; "
            "add --yes to purge without asking"
        )
    click.echo(f"This removes {what} ({uid}) for good:", err=True)
    if live:
        click.echo("  - the article, its page and its entries in every feed;", err=True)
    click.echo("  - its tombstone: feed readers are not told it was deleted;", err=True)
    click.echo("  - every trace of its id, which may then be used again.", err=True)
    click.confirm("Purge it?", abort=True, err=True)
