"""Detail-page paths built without a ``reverse()`` per record must be exactly ``reverse()``'s."""

import pytest
from django.urls import NoReverseMatch, reverse, set_script_prefix
from hypothesis import given
from hypothesis import strategies as st

from registry.links import detail_path, named_path

DETAIL_PAGES = [
    "public:license-detail",
    "public:audit-detail",
    "public:entity-detail",
    "public:regulator-detail",
    "public:regime-detail",
    "public:source-detail",
]


@pytest.mark.parametrize("url_name", DETAIL_PAGES)
@pytest.mark.parametrize("slug", ["okx", "okx-mica-casp-2025", "A_b-9", "__slug__"])
def test_detail_path_is_reverses_path(url_name, slug):
    assert detail_path(url_name, slug) == reverse(url_name, kwargs={"slug": slug})


@given(st.text(max_size=20))
def test_any_slug_gives_reverses_path_or_its_error(slug):
    """A slug the URL pattern refuses (loaded without validation, say) fails as ``reverse()`` fails."""
    try:
        expected = reverse("public:license-detail", kwargs={"slug": slug})
    except NoReverseMatch:
        with pytest.raises(NoReverseMatch):
            detail_path("public:license-detail", slug)
    else:
        assert detail_path("public:license-detail", slug) == expected


def test_detail_path_follows_the_script_prefix():
    """Served under a path prefix (SCRIPT_NAME), links keep the prefix, as ``reverse()``'s do."""
    assert detail_path("public:entity-detail", "okx") == "/entities/okx/"
    set_script_prefix("/register/")
    try:
        assert detail_path("public:entity-detail", "okx") == "/register/entities/okx/"
    finally:
        set_script_prefix("/")
    assert detail_path("public:entity-detail", "okx") == "/entities/okx/"


@pytest.mark.parametrize("url_name", ["public:license-list", "public:entity-list", "public:home", "official:index"])
def test_named_path_is_reverses_path(url_name):
    assert named_path(url_name) == reverse(url_name)


def test_named_path_follows_the_script_prefix():
    assert named_path("public:license-list") == "/licenses/"
    set_script_prefix("/register/")
    try:
        assert named_path("public:license-list") == "/register/licenses/"
    finally:
        set_script_prefix("/")
    assert named_path("public:license-list") == "/licenses/"


def test_named_path_fails_as_reverse_fails():
    with pytest.raises(NoReverseMatch):
        named_path("public:no-such-page")
