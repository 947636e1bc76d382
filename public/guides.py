"""Developer documentation published as pages: ``docs/api.md`` is the API guide at ``/about/api/``.

One text for both readers: the guide in the repository and the page the API's schema links to. Rendered as
CommonMark with tables; raw HTML in the file is escaped, not passed through.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from django.conf import settings
from django.utils.safestring import SafeString, mark_safe
from markdown_it import MarkdownIt

API_GUIDE = Path(settings.BASE_DIR) / "docs" / "api.md"


def _renderer() -> MarkdownIt:
    markdown = MarkdownIt("commonmark", {"html": False}).enable("table")
    # A wide table scrolls inside its own region on a phone rather than widening the page.
    markdown.add_render_rule(
        "table_open",
        lambda self, tokens, idx, options, env: (
            '<div class="table-wrap" role="region" aria-label="Table (scrolls sideways on a small screen)"'
            ' tabindex="0">\n<table>\n'
        ),
    )
    markdown.add_render_rule("table_close", lambda self, tokens, idx, options, env: "</table>\n</div>\n")
    return markdown


@lru_cache(maxsize=1)
def api_guide() -> tuple[str, SafeString]:
    """``(title, body)`` of the API guide: the file's first-level heading, and the rest as HTML."""
    text = API_GUIDE.read_text(encoding="utf-8")
    markdown = _renderer()
    tokens = markdown.parse(text)
    title = ""
    for index, token in enumerate(tokens):
        if token.type == "heading_open" and token.tag == "h1":
            title = tokens[index + 1].content
            tokens = tokens[:index] + tokens[index + 3 :]
            break
    body = markdown.renderer.render(tokens, markdown.options, {})
    return title, mark_safe(body)  # noqa: S308 - markdown-it escapes the text; raw HTML is off
