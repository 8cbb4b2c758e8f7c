"""Content safety and the facts derived from content (summary, words)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from feeder._content import (
    _WORDS,
    SUMMARY_MAX,
    derive_summary,
    first_paragraph,
    plain_text,
    sanitize_html,
    word_count,
)
from feeder._text import clean_text

BASE = "https://example.org/blog/articles/post.html"


@pytest.mark.parametrize(
    ("dirty", "clean"),
    [
        ("<p>a<script>alert(1)</script>b</p>", "<p>ab</p>"),
        ("<style>p{color:red}</style><p>x</p>", "<p>x</p>"),
        ('<p onclick="steal()" onmouseover="x">x</p>', "<p>x</p>"),
        ('<a href="javascript:alert(1)">x</a>', '<a rel="noopener">x</a>'),
        ('<a href=" JaVaScRiPt:alert(1)">x</a>', '<a rel="noopener">x</a>'),
        ('<a href="data:text/html,<b>x</b>">x</a>', '<a rel="noopener">x</a>'),
        ('<img src="data:image/svg+xml;base64,PHN2Zz4=">', "<img>"),
        ('<iframe src="https://video.example/1"></iframe><p>x</p>', "<p>x</p>"),
        ('<blockquote cite="javascript:x">q</blockquote>', "<blockquote>q</blockquote>"),
        ('<p style="position:fixed">x</p>', "<p>x</p>"),
    ],
)
def test_sanitizer_removes_what_can_run_or_mislead(dirty: str, clean: str) -> None:
    assert sanitize_html(dirty) == clean


def test_data_urls_are_kept_for_raster_images_only() -> None:
    png = "data:image/png;base64,iVBORw0KGgo="
    assert sanitize_html(f'<img src="{png}" alt="dot">') == f'<img src="{png}" alt="dot">'


def test_links_get_rel_noopener() -> None:
    assert sanitize_html('<a href="https://a.example/">a</a>') == (
        '<a href="https://a.example/" rel="noopener">a</a>'
    )


def test_iframes_only_when_the_site_allows_them() -> None:
    frame = '<iframe src="https://video.example/embed/1" width="560"></iframe>'
    assert sanitize_html(frame) == ""
    assert sanitize_html(frame, allow_iframes=True) == frame
    assert "onload" not in sanitize_html(frame[:-10] + ' onload="x"></iframe>', allow_iframes=True)


def test_relative_urls_become_absolute_against_the_article_url() -> None:
    html = (
        '<a href="other.html">o</a><a href="/root">r</a><a href="#note">n</a>'
        '<img src="../img/a.png"><a href="//cdn.example/x">c</a>'
        '<a href="https://elsewhere.example/">e</a><a href="mailto:a@example.org">m</a>'
    )
    assert sanitize_html(html, base_url=BASE) == (
        '<a href="https://example.org/blog/articles/other.html" rel="noopener">o</a>'
        '<a href="https://example.org/root" rel="noopener">r</a>'
        '<a href="https://example.org/blog/articles/post.html#note" rel="noopener">n</a>'
        '<img src="https://example.org/blog/img/a.png">'
        '<a href="https://cdn.example/x" rel="noopener">c</a>'
        '<a href="https://elsewhere.example/" rel="noopener">e</a>'
        '<a href="mailto:a@example.org" rel="noopener">m</a>'
    )
    # Without a base they are left alone (and nothing leaks between calls).
    assert sanitize_html('<a href="x.html">x</a>') == '<a href="x.html" rel="noopener">x</a>'


def test_xml_forbidden_characters_are_removed_from_content() -> None:
    assert sanitize_html("<p>a\x00b\x0bc\ufffed\x1f</p>") == "<p>abcd</p>"


def test_typographic_characters_survive_sanitizing() -> None:
    html = "<p>“Quotes” and ‘single’ — dash… done</p>"
    assert sanitize_html(html) == html


def test_summary_is_the_first_paragraph_as_text() -> None:
    html = "<h2></h2><p>First <em>para</em> &amp; more.</p><p>Second.</p>"
    assert derive_summary(html) == "First para & more."
    assert plain_text(html) == "First para & more.\n\nSecond."
    assert word_count(html) == 5


def test_long_summary_is_cut_at_a_word_boundary_with_an_ellipsis() -> None:
    words = " ".join(f"word{n}," for n in range(100))
    summary = derive_summary(f"<p>{words}</p>")
    assert len(summary) <= SUMMARY_MAX
    assert summary.endswith("…")
    assert words.startswith(summary[:-1])
    assert summary[-2].isdigit()  # the trailing comma went, the word did not get cut


def test_script_and_style_text_is_not_visible_text() -> None:
    html = "<script>var a = '<p>no</p>';</script><style>p{}</style><p>yes</p>"
    assert plain_text(html) == "yes"


_HTML_BITS = st.sampled_from(
    [
        "<p>",
        "</p>",
        "<div class='a>b'>",
        "</div>",
        "<br/>",
        "<em>",
        "</em>",
        "<script>",
        "</script>",
        "<!-- c -->",
        "&amp;",
        "&lt;",
        "&nbsp;",
        "&am",
        "p;",
        "\n\n",
        " ",
        "<",
        ">",
        "<style>",
        "</style>",
        "<li>",
        "\u3042",
        "\u4e00",
        "\xa0",
        "\u2028",
        "\x1c",
    ]
)
_HTML = st.lists(st.one_of(_HTML_BITS, st.text(max_size=8)), max_size=30).map("".join)


@settings(max_examples=200, deadline=None)
@given(_HTML)
def test_first_paragraph_is_the_first_paragraph_of_the_plain_text(html: str) -> None:
    assert first_paragraph(html) == plain_text(html).split("\n\n")[0]


@settings(max_examples=500, deadline=None)
@given(_HTML)
def test_word_count_counts_the_words_of_the_plain_text(html: str) -> None:
    text = plain_text(html)
    expected = len(text.split()) if text.isascii() else len(_WORDS.findall(text))
    assert word_count(html) == expected


@settings(max_examples=100, deadline=None)
@given(_HTML)
def test_sanitizing_twice_changes_nothing(html: str) -> None:
    once = sanitize_html(html, base_url=BASE)
    assert sanitize_html(once, base_url=BASE) == once


def test_c1_controls_are_removed_and_the_characters_around_them_kept() -> None:
    # Windows-1252 text mis-decoded as Latin-1 leaves C1 controls; readers disagree on them.
    assert clean_text("caf\x82e \x80100 \x9fend\x7f") == "cafe 100 end"
    assert clean_text("é € … ‘’ \xa0") == "é € … ‘’ \xa0"
    assert sanitize_html("<p>a\x85b\x9cc</p>") == "<p>abc</p>"


_EDGES = "\x00\x08\t\n\x0b\x0c\r\x1f \x7f\x80\x85\x9f\xa0\xc2é€\ud800\udfff\ufffd\ufffe\uffff的🙂"


def _xml_clean(value: str) -> str:
    return "".join(c for c in value if c not in _XML_UNWANTED and not "\ud800" <= c <= "\udfff")


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=st.sampled_from(_EDGES) | st.characters(), max_size=40))
def test_clean_text_removes_exactly_what_xml_forbids(value: str) -> None:
    # Whatever the text holds: only the forbidden characters go, and the rest stays in order.
    assert clean_text(value) == _xml_clean(value)


@pytest.mark.parametrize("around", ["plain {} text", "café {} text", "的{}", "long " * 60 + "{}"])
@pytest.mark.parametrize("char", list(_EDGES))
def test_clean_text_finds_each_unwanted_character_alone(around: str, char: str) -> None:
    # One character in otherwise clean text, ASCII or not: the case a quick check can miss.
    assert clean_text(around.format(char)) == _xml_clean(around.format(char))


_XML_UNWANTED = {
    *map(chr, range(0x00, 0x09)),
    "\x0b",
    "\x0c",
    *map(chr, range(0x0E, 0x20)),
    *map(chr, range(0x7F, 0xA0)),
    "\ufffe",
    "\uffff",
}


def test_word_count_counts_each_chinese_or_japanese_character() -> None:
    # Written without spaces: split() would see one word in the whole sentence.
    assert word_count("<p>これは日本語の文章です</p>") == 11
    assert word_count("<p>我们明天见</p><p>See you</p>") == 7
    assert word_count("<p>Plain <em>English</em> words, counted as usual.</p>") == 6
    assert word_count("<p>한국어는 띄어쓰기를 합니다</p>") == 3  # Korean separates words


@pytest.mark.parametrize(
    ("html", "summary"),
    [
        (
            "<p>Estimated read time 3 min read</p><p>The council voted on Tuesday to close "
            "the old bridge for good.</p>",
            "The council voted on Tuesday to close the old bridge for good.",
        ),
        ("<table><tr><th>Name</th><th>Score</th></tr></table><p>Results are in.</p>",
         "Results are in."),
        ("<p>By Ann</p><p>Short.</p>", "By Ann"),  # nothing reads as prose: the first one
        ("<p>短い。</p><p>今日は東京で会議が開かれた。</p>", "今日は東京で会議が開かれた。"),
    ],
)  # fmt: skip
def test_the_summary_is_the_first_paragraph_that_reads_as_prose(html: str, summary: str) -> None:
    assert derive_summary(html) == summary
