"""``/official/esma/authorisations.atom``: CASPs ESMA newly lists, stops listing, or gives an end date.

The entries are the page ``/official/esma/authorisations/`` lists
(:meth:`RegisterChangeQuerySet.authorisation_news`), newest snapshot first.
"""

from __future__ import annotations

import datetime
import hashlib

from django.contrib.syndication.views import Feed
from django.urls import reverse
from django.utils.feedgenerator import Atom1Feed

from history.feeds import PUBLISHER
from official.models import ChangeKind, RegisterChange

FEED_LENGTH = 50


def headline(change) -> str:
    """What happened to the CASP, in a few words: the entry's title and the page's."""
    if change.kind == ChangeKind.LISTED:
        return f"{change.label}: newly listed as an authorised CASP"
    if change.kind == ChangeKind.REMOVED:
        return f"{change.label}: no longer listed"
    return f"{change.label}: authorisation end date {change.end_date} published"


class AuthorisationsFeed(Feed):
    feed_type = Atom1Feed
    author_name = PUBLISHER
    title = "ESMA register: new authorisations and withdrawals"
    subtitle = (
        "Crypto-asset service providers ESMA's interim MiCA register newly lists, no longer lists, or gives an "
        "authorisation end date, snapshot by snapshot."
    )

    def link(self):
        return reverse("official:news")

    def feed_url(self):
        return reverse("official:feed")

    def items(self):
        return RegisterChange.objects.published().authorisation_news().with_record_link().in_order()[:FEED_LENGTH]

    def item_title(self, change):
        return headline(change)

    def item_description(self, change):
        shown = "; ".join(str(field) for field in change.fields)
        return f"In ESMA's snapshot of {change.snapshot.date.isoformat()} ({change.snapshot.file_name}). {shown}"

    def item_link(self, change):
        return change.record_url or change.snapshot.get_absolute_url()

    def item_guid(self, change):
        text = "|".join([change.snapshot.register, change.snapshot.date.isoformat(), change.kind, change.key])
        return f"urn:compliance-registry:esma:{hashlib.sha256(text.encode()).hexdigest()[:32]}"

    item_guid_is_permalink = False

    def item_pubdate(self, change):
        return datetime.datetime.combine(change.snapshot.date, datetime.time(), tzinfo=datetime.UTC)

    def item_updateddate(self, change):
        return self.item_pubdate(change)

    def item_categories(self, change):
        return [change.get_kind_display()]
