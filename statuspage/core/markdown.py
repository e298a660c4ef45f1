"""Incident updates are written in Markdown and shown as HTML that cannot carry markup of its own."""

from __future__ import annotations

from markdown_it import MarkdownIt
from markupsafe import Markup

# CommonMark without raw HTML: "<script>" in an update is shown as text. Links with dangerous
# schemes (javascript:, vbscript:, data:) are refused by markdown-it itself.
_RENDERER = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})


def render(text: str) -> Markup:
    return Markup(_RENDERER.render(text))
