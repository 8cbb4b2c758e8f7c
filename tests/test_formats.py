"""Input formats: each file type becomes the draft a user would expect, or a clear error."""

from __future__ import annotations

import io
from datetime import datetime

import pytest

from feeder.entries import Person
from feeder.errors import InputError
from feeder.importing import formats
from feeder.importing.formats import Draft, html, jsonl, markdown, text


def _md(source: str) -> Draft:
    return markdown.parse(source, "post.md")


# -- Markdown ---------------------------------------------------------------------------


def test_markdown_takes_every_field_from_yaml_front_matter() -> None:
    draft = _md(
        "---\n"
        'title: "Hello: world"\n'
        "slug: hello\n"
        "link: https://example.org/elsewhere\n"
        "summary: Short.\n"
        "author: Ann Author\n"
        "tags: [news, Python]\n"
        "published: 2026-11-20T09:00:00Z\n"
        "updated: 2026-11-21T10:00:00+01:00\n"
        "id: tag:example.org,2020:/p/1\n"
        "---\n"
        "Body *text*.\n"
    )
    assert draft.title == "Hello: world"
    assert draft.slug == "hello"
    assert draft.link == "https://example.org/elsewhere"
    assert draft.summary == "Short."
    assert draft.author == "Ann Author"
    assert draft.tags == ("news", "Python")
    # Dates stay text, to be read by one rule (YAML would make naive datetimes).
    assert draft.published == "2026-11-20T09:00:00Z"
    assert draft.updated == "2026-11-21T10:00:00+01:00"
    assert draft.id == "tag:example.org,2020:/p/1"
    assert draft.content == "<p>Body <em>text</em>.</p>\n"


def test_markdown_reads_toml_front_matter_with_native_dates() -> None:
    draft = _md(
        '+++\ntitle = "Toml"\ntags = ["a", "b"]\npublished = 2026-11-20T09:00:00Z\n'
        "updated = 2026-11-22\n+++\nText\n"
    )
    assert draft.title == "Toml"
    assert draft.tags == ("a", "b")
    assert isinstance(draft.published, datetime)
    assert draft.published.isoformat() == "2026-11-20T09:00:00+00:00"
    assert draft.updated == "2026-11-22"  # a local date: read in the site's time zone
    assert draft.content == "<p>Text</p>\n"


def test_markdown_renders_tables_and_fenced_code() -> None:
    draft = _md(
        "---\ntitle: T\n---\n"
        "| Name | Value |\n|------|-------|\n| a    | 1     |\n\n"
        "```python\nprint('<hi>')\n```\n"
    )
    assert "<table>" in draft.content
    assert "<th>Name</th>" in draft.content
    assert "<td>1</td>" in draft.content
    assert "<pre><code" in draft.content
    assert "print('&lt;hi&gt;')" in draft.content


def test_markdown_title_from_a_leading_heading_leaves_the_body() -> None:
    draft = _md("# A *great* post\n\nFirst paragraph.\n")
    assert draft.title == "A great post"
    assert draft.content == "<p>First paragraph.</p>\n"


def test_markdown_without_title_is_refused_with_the_fix() -> None:
    with pytest.raises(InputError) as error:
        _md("Just text.\n")
    message = str(error.value)
    assert message.startswith("post.md: title: missing")
    assert "front matter" in message


def test_front_matter_tags_may_be_a_comma_separated_string() -> None:
    assert _md("---\ntitle: T\ntags: news, python\n---\n").tags == ("news", "python")


def test_front_matter_author_may_give_email_and_uri() -> None:
    draft = _md(
        "---\ntitle: T\nauthor:\n  name: Ann\n  email: ann@example.org\n"
        "  uri: https://example.org/ann\n---\n"
    )
    assert draft.author == Person("Ann", "ann@example.org", "https://example.org/ann")


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("---\ntitle: T\ncolour: blue\n---\n", "post.md: front matter: unknown key 'colour'"),
        ("---\ntitle: [unclosed\n---\n", "post.md:3: front matter: not valid YAML"),
        ("+++\ntitle = \n+++\n", "post.md:2: front matter: not valid TOML"),
        ("---\ntitle: T\n", "post.md:1: front matter: no closing '---' line"),
        ("---\n- a\n- b\n---\n", "post.md: front matter: must be a set of 'key: value' fields"),
        ("---\ntitle: 2026\n---\n", "post.md: front matter: title: must be text"),
        ("---\ntitle: T\ntags: {a: 1}\n---\n", "post.md: front matter: tags: must be a list"),
    ],
)
def test_bad_front_matter_is_refused_naming_the_problem(source: str, expected: str) -> None:
    with pytest.raises(InputError) as error:
        _md(source)
    assert str(error.value).startswith(expected)
    assert "\n" not in str(error.value)


# -- HTML ---------------------------------------------------------------------------------


def test_html_title_from_title_element_and_body_from_article() -> None:
    draft = html.parse(
        "<!DOCTYPE html><html><head><title>Page &amp; title</title>"
        '<meta charset="utf-8"></head><body><nav>menu</nav>'
        "<article><h1>Heading</h1><p>Text</p></article><footer>f</footer></body></html>",
        "page.html",
    )
    assert draft.title == "Page & title"
    assert draft.content == "<h1>Heading</h1><p>Text</p>"


def test_html_title_from_first_h1_which_leaves_the_body() -> None:
    draft = html.parse("<main>\n<h1>The <em>title</em></h1>\n<p>Text</p>\n</main>", "p.html")
    assert draft.title == "The title"
    assert draft.content == "<p>Text</p>"


def test_html_body_falls_back_to_main_then_body_then_the_document() -> None:
    page = "<html><head><title>T</title></head><body><main><p>M</p></main><p>B</p></body></html>"
    assert html.parse(page, "p.html").content == "<p>M</p>"
    page = "<html><head><title>T</title></head><body><p>B</p></body></html>"
    assert html.parse(page, "p.html").content == "<p>B</p>"
    assert html.parse("<title>T</title>\n<p>Fragment</p>", "p.html").content == "<p>Fragment</p>"


def test_html_front_matter_wins_over_the_document() -> None:
    draft = html.parse("---\ntitle: From front matter\nslug: s\n---\n<h1>H</h1><p>x</p>", "p.html")
    assert (draft.title, draft.slug) == ("From front matter", "s")
    assert draft.content == "<h1>H</h1><p>x</p>"


def test_html_without_any_title_is_refused() -> None:
    with pytest.raises(InputError, match=r"^p\.html: title: missing; add a <title>"):
        html.parse("<p>No title here</p>", "p.html")


# -- plain text --------------------------------------------------------------------------


def test_text_first_line_is_the_title_and_paragraphs_become_p() -> None:
    source = (
        "“Quoted” title — with dashes…\n"
        "\n"
        "First paragraph, ‘single’ quotes\n"
        "wrapped on two lines.\n"
        "   \n"
        "Second <paragraph> & more.\r\n"
    )
    draft = text.parse(source, "note.txt")
    assert draft.title == "“Quoted” title — with dashes…"
    assert draft.content == (
        "<p>First paragraph, ‘single’ quotes\nwrapped on two lines.</p>\n"
        "<p>Second &lt;paragraph&gt; &amp; more.</p>"
    )


def test_text_with_front_matter_title_keeps_its_first_line() -> None:
    draft = text.parse("---\ntitle: Given\n---\nFirst line.\n", "note.txt")
    assert draft.title == "Given"
    assert draft.content == "<p>First line.</p>"


def test_empty_text_file_is_refused() -> None:
    with pytest.raises(InputError, match=r"^note\.txt: title: missing, the file is empty"):
        text.parse("\n  \n", "note.txt")


# -- JSON Lines ---------------------------------------------------------------------------


def _lines(*lines: bytes) -> list[Draft | InputError]:
    return list(jsonl.parse_lines(io.BytesIO(b"".join(lines)), "bulk.jsonl"))


def test_jsonl_gives_one_draft_per_line_and_skips_blank_lines() -> None:
    items = _lines(
        b'{"title": "One", "content": "<p>1</p>", "tags": ["a"]}\n',
        b"\n",
        b'{"title": "Two", "format": "md", "content": "*2*"}\n',
        b'{"title": "Three", "format": "text", "content": "a\\n\\nb"}',
    )
    assert [item.origin for item in items if isinstance(item, Draft)] == [
        "bulk.jsonl:1",
        "bulk.jsonl:3",
        "bulk.jsonl:4",
    ]
    one, two, three = items
    assert isinstance(one, Draft) and isinstance(two, Draft) and isinstance(three, Draft)
    assert (one.title, one.content, one.tags) == ("One", "<p>1</p>", ("a",))
    assert two.content == "<p><em>2</em></p>\n"
    assert three.content == "<p>a</p>\n<p>b</p>"


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (b"{not json}\n", "bulk.jsonl:2: not valid JSON (Expecting property name"),
        (b"[1, 2]\n", "bulk.jsonl:2: must be a JSON object, got list"),
        (b'{"title": "T", "colour": 1}\n', "bulk.jsonl:2: unknown key 'colour'"),
        (b'{"content": "x"}\n', 'bulk.jsonl:2: title: missing; add a "title" key'),
        (b'{"title": "T", "format": "rst"}\n', "bulk.jsonl:2: format: 'rst' is unknown"),
        (b'{"title": "T", "content": 5}\n', "bulk.jsonl:2: content: must be a string"),
        (b'{"title": "T", "tags": "a"}\n', None),
    ],
)
def test_a_bad_jsonl_line_is_reported_with_its_number(line: bytes, expected: str | None) -> None:
    first, second, third = _lines(b'{"title": "ok"}\n', line, b'{"title": "also ok"}\n')
    assert isinstance(first, Draft) and isinstance(third, Draft)
    if expected is None:
        assert isinstance(second, Draft)
    else:
        assert isinstance(second, InputError)
        assert str(second).startswith(expected)


def test_invalid_utf8_in_jsonl_names_line_and_file_byte_offset() -> None:
    good, bad = b'{"title": "ok"}\n', b'{"title": "\xff"}\n'
    first, second = _lines(good, bad)
    assert isinstance(first, Draft)
    assert isinstance(second, InputError)
    offset = len(good) + bad.index(b"\xff")
    assert str(second) == f"bulk.jsonl:2: not valid UTF-8 at byte {offset}; save the file as UTF-8"


# -- shared -----------------------------------------------------------------------------


def test_decode_reports_the_byte_offset_and_drops_a_bom() -> None:
    assert formats.decode("\ufeffhé".encode(), "a.md") == "hé"
    with pytest.raises(InputError) as error:
        formats.decode(b"ok\n\xc3\x28", "a.md")
    assert str(error.value) == "a.md: not valid UTF-8 at byte 3; save the file as UTF-8"


def test_format_is_guessed_from_the_extension() -> None:
    assert formats.format_of("a/b.MD") == "md"
    assert formats.format_of("b.htm") == "html"
    assert formats.format_of("b.txt") == "text"
    assert formats.format_of("b.jsonl") == "jsonl"
    assert formats.format_of("b.png") is None


def test_content_for_add_is_converted_and_front_matter_refused() -> None:
    assert formats.to_html("*x*", "md", "a.md") == "<p><em>x</em></p>\n"
    assert formats.to_html("a\n\nb", "text", "a.txt") == "<p>a</p>\n<p>b</p>"
    assert formats.to_html("<html><body><p>x</p></body></html>", "html", "a.html") == "<p>x</p>"
    with pytest.raises(InputError, match=r"^a\.md: has front matter.*'feeder import a\.md'"):
        formats.to_html("---\ntitle: x\n---\nbody", "md", "a.md")
