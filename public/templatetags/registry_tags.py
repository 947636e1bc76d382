"""Template helpers for the public pages: partial dates, citation anchors, quote highlighting, safe URL lookups."""

from __future__ import annotations

import datetime
import hashlib
import re
from html import escape

from django import template
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.template.loader import get_template
from django.urls import NoReverseMatch, get_script_prefix, get_urlconf, reverse
from django.utils import timezone
from django.utils.html import conditional_escape, format_html
from django.utils.safestring import mark_safe

from public import assurance
from registry.links import named_path
from registry.models import period_text

register = template.Library()


@register.filter
def partial_date(value):
    """A date as precisely as known, in a ``<time>`` element: "March 2025" with ``datetime="2025-03"``."""
    if value is None or value == "":
        return ""
    # Built by hand, not with format_html(): the entity page writes some 250 of these (8.5 µs each with it,
    # 4.9 µs without, measured with timeit), and both texts are escaped all the same.
    return mark_safe(f'<time datetime="{escape(value.isoformat())}">{escape(str(value))}</time>')  # noqa: S308


@register.filter
def html_datetime(value):
    """A moment as a ``<time datetime>`` value: UTC to the second, ``2026-12-05T10:12:33Z``.

    HTML allows at most three digits of a second's fraction; Python's ``isoformat()`` and Django's
    ``date:"c"`` write six. The exports and feeds keep the full precision (``Change.date_iso``).
    """
    if not isinstance(value, datetime.datetime):
        return ""
    if timezone.is_naive(value):
        value = timezone.make_aware(value)
    return value.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def quote_anchor(quote: str) -> str:
    """The fragment id of a quote on its source's page.

    Derived from the quote's words, not its position or a database id, so a
    licence page can link to it without loading the source text and the link
    survives edits elsewhere in the source.
    """
    normalised = " ".join(quote.split()).casefold()
    return "quote-" + hashlib.sha256(normalised.encode()).hexdigest()[:10]


register.filter("quote_anchor", quote_anchor)


@register.filter
def audit_status(audit):
    """An audit's status today in words, linking the report that superseded it (``link_supersession``'s
    attributes; an audit without them reads as its ``status_label``). A filter, not an included template: the
    entity page writes it on a hundred rows."""
    status = getattr(audit, "status", None)
    later = getattr(audit, "superseded_by_audit", None)
    if status == "superseded" and later:
        return format_html(
            'Superseded by <a href="{}">the {} issued {}</a>',
            later.get_absolute_url(),
            later.get_kind_display().lower(),
            partial_date(later.issued),
        )
    if status == "not_yet_issued" and audit.ongoing:
        return "Not yet started"
    if status == "current" and audit.ongoing:
        return "Current: ongoing engagement"
    return audit.status_label


# (template name, script prefix, urlconf) -> its markup
_RENDERED_ONCE: dict[tuple, str] = {}


@register.simple_tag
def once(template_name):
    """The markup of ``template_name``, rendered without a context once per process (and script prefix, and
    URLconf): the site's header and footer, whose links and static files' names change only with a deployment.
    Reversing their 19 links was 0.4 ms of every page. With DEBUG on, rendered each time: the development server
    reloads an edited template without restarting, and the edit should show."""
    key = (template_name, get_script_prefix(), get_urlconf())
    markup = None if settings.DEBUG else _RENDERED_ONCE.get(key)
    if markup is None:
        markup = _RENDERED_ONCE[key] = mark_safe(get_template(template_name).render().strip())  # noqa: S308 - ours
    return markup


@receiver(setting_changed)
def _forget_rendered(setting, **kwargs):
    # Tests may swap the URLconf or the static files' storage.
    _RENDERED_ONCE.clear()


@register.simple_tag
def url_or(name, fallback, *args, **kwargs):
    """``reverse(name)``, or ``fallback`` while that URL is not (yet) defined.

    Lets the navigation link to list pages built separately without breaking
    every page when one of them is missing.
    """
    try:
        if not args and not kwargs:
            return named_path(name)  # reversed once per process
        return reverse(name, args=args or None, kwargs=kwargs or None)
    except NoReverseMatch:
        return fallback


_QUOTE_CHARS = {"'": "['\u2018\u2019]", "\u2018": "['\u2018\u2019]", "\u2019": "['\u2018\u2019]"}
_DQUOTE = '["\u201c\u201d]'


def _loose_pattern(quote: str) -> re.Pattern:
    """Match ``quote`` regardless of runs of white space, letter case, or straight/curly quotation marks."""
    parts = []
    for word in quote.split():
        chunk = []
        for char in word:
            if char in _QUOTE_CHARS:
                chunk.append(_QUOTE_CHARS[char])
            elif char in '"\u201c\u201d':
                chunk.append(_DQUOTE)
            else:
                chunk.append(re.escape(char))
        parts.append("".join(chunk))
    return re.compile(r"\s+".join(parts), re.IGNORECASE)


def find_quote(text: str, quote: str) -> tuple[int, int] | None:
    """Where ``quote`` occurs in ``text`` (first occurrence), verbatim or loosely; None when it does not."""
    quote = quote.strip()
    if not quote:
        return None
    start = text.find(quote)
    if start >= 0:
        return start, start + len(quote)
    match = _loose_pattern(quote).search(text)
    return match.span() if match else None


def highlight_quotes(text: str, quotes) -> tuple[str, list[str]]:
    """Escape ``text`` and wrap each quote found in it in ``<mark id="quote-…">``.

    Returns the HTML and the quotes that could not be found (so the page can
    say so rather than pretend). Overlapping quotes share one ``<mark>``; the
    later ones get an empty anchor at its start so their links still land.
    """
    spans, missing, seen = [], [], set()
    for quote in quotes:
        anchor = quote_anchor(quote)
        if anchor in seen:
            continue
        seen.add(anchor)
        found = find_quote(text, quote)
        if found is None:
            missing.append(quote)
        else:
            spans.append((found[0], found[1], anchor))
    spans.sort()
    merged: list[list] = []
    for start, end, anchor in spans:
        if merged and start < merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
            merged[-1][2].append(anchor)
        else:
            merged.append([start, end, [anchor]])
    out, position = [], 0
    for start, end, anchors in merged:
        out.append(conditional_escape(text[position:start]))
        extra = "".join(format_html('<span id="{}"></span>', anchor) for anchor in anchors[1:])
        out.append(format_html('<mark id="{}">{}{}</mark>', anchors[0], mark_safe(extra), text[start:end]))  # noqa: S308
        position = end
    out.append(conditional_escape(text[position:]))
    return mark_safe("".join(str(part) for part in out)), missing  # noqa: S308


@register.filter
def period_covered(audit):
    """``Audit.period_covered`` in words, capitalised, each date in a ``<time>`` element (``partial_date``)."""
    text = period_text(audit.period_started, audit.period_ended, audit.ongoing, audit.kind, date=partial_date)
    # The words are the function's own; each date was escaped by partial_date.
    return mark_safe(text[:1].upper() + text[1:])  # noqa: S308


# Proof-of-reserves figures, written as public.assurance writes them.
@register.filter
def percent(value):
    return "" if value is None else assurance.percent(value)


@register.filter
def usd(value):
    return "" if value is None else assurance.usd(value)


@register.filter
def reserve_amount(value):
    return "" if value is None else assurance.amount(value)
