"""Detail-page paths without a ``reverse()`` per record.

``reverse()`` resolves a URL pattern on every call (about 40 µs): two links a row made it the
largest single cost of rendering a 50-row list page, and of every export row. Each detail page's
pattern is reversed once, with a placeholder slug, and each record's slug is then put in its place.
A slug the ``<slug:>`` converter would not match goes through ``reverse()`` itself, so the result
(or the NoReverseMatch) is always ``reverse()``'s.
"""

import re

from django.core.signals import setting_changed
from django.dispatch import receiver
from django.urls import get_script_prefix, get_urlconf, reverse

_SLUG_MARK = "__slug__"  # a valid slug that no quoting changes, so it can be found again in the reversed path
_SLUG = re.compile(r"[-a-zA-Z0-9_]+").fullmatch  # Django's SlugConverter: what reverse() inserts unquoted

# (url name, script prefix, urlconf) -> (text before the slug, text after it)
_patterns: dict[tuple, tuple[str, str]] = {}


def detail_path(url_name: str, slug: str) -> str:
    """``reverse(url_name, kwargs={"slug": slug})``, from the pattern reversed once per process."""
    key = (url_name, get_script_prefix(), get_urlconf())
    pattern = _patterns.get(key)
    if pattern is None:
        prefix, suffix = reverse(url_name, kwargs={"slug": _SLUG_MARK}).split(_SLUG_MARK)
        pattern = _patterns[key] = (prefix, suffix)
    if not _SLUG(slug):
        return reverse(url_name, kwargs={"slug": slug})
    return pattern[0] + slug + pattern[1]


@receiver(setting_changed)
def _forget_patterns(setting, **kwargs):
    # Tests may swap the URLconf (override_settings(ROOT_URLCONF=...)); Django then clears its own caches.
    if setting == "ROOT_URLCONF":
        _patterns.clear()
