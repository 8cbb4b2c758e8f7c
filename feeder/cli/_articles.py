"""Commands that change or show articles: add, list, show, edit, delete."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import click

from feeder.cli import cli
from feeder.cli._common import echo_json, fmt_time, open_site, read_content

if TYPE_CHECKING:
    from feeder.articles import Article

_CONTENT_FORMATS = ("md", "html", "text")
_FORMAT = click.option(
    "--format",
    "kind",
    type=click.Choice(_CONTENT_FORMATS),
    default=None,
    help="What --content-file holds (default: from its extension, else html).",
)


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
@click.option("--json", "as_json", is_flag=True, help="Print the new article as JSON.")
@click.pass_context
def add(
    ctx: click.Context,
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
) -> None:
    """Add an article and print its slug and permanent id."""
    content = _content(content_file, kind) if content_file else ""
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
    ]:
        click.echo(f"{label + ':':<11}{value}")


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
@click.option("--json", "as_json", is_flag=True, help="Print the article as JSON.")
@click.pass_context
def edit(
    ctx: click.Context,
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
