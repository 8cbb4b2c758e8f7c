"""Renderers: pure functions from plain data to bytes. Only this package imports feedgen."""

from feeder.publishing.render.atom import render_atom as render_atom
from feeder.publishing.render.page import render_article as render_article
from feeder.publishing.render.page import render_index as render_index
from feeder.publishing.render.rss import render_rss as render_rss

__all__ = ["render_article", "render_atom", "render_index", "render_rss"]
