"""Atom feeds of the public change history (Django's syndication framework).

Entries are the changes :mod:`history.feed` selects, narrowed to some records by
``Filters(scopes=...)``, so the feeds show exactly what ``/changes/`` shows:
changes to published records, never drafts, never an editor's name. Three feeds:

* ``/feeds/changes.atom``: the whole register;
* ``/entities/<slug>/changes.atom``: one entity, its licences and audits;
* ``/jurisdictions/<code>/changes.atom``: licences usable in a jurisdiction (``LicenseQuerySet.usable_in``),
  the licences its link ``/licenses/?usable_in=<code>`` lists.
"""

from __future__ import annotations

import hashlib
from urllib.parse import urlencode

from django.contrib.syndication.views import Feed
from django.db.models import Q
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.feedgenerator import Atom1Feed

from history import feed
from registry.models import Entity, Jurisdiction, License

FEED_LENGTH = 50
PUBLISHER = "Compliance Registry"


def entity_scopes(entity):
    """History rows about ``entity``: itself, its aliases and citations, key people, licences and audits."""
    return {
        "entity": Q(id=entity.pk),
        "entity-alias": Q(entity_id=entity.pk),
        "entity-citation": Q(entity_id=entity.pk),
        "keyperson": Q(entity_id=entity.pk),
        "keyperson-citation": Q(key_person__entity_id=entity.pk),
        "license": Q(holder_id=entity.pk),
        "license-citation": Q(license__holder_id=entity.pk),
        "audit": Q(subject_id=entity.pk),
        "audit-citation": Q(audit__subject_id=entity.pk),
    }


def jurisdiction_scopes(jurisdiction):
    """History rows of the licences usable in ``jurisdiction`` today (:meth:`LicenseQuerySet.usable_in`)."""
    usable = License.objects.usable_in(jurisdiction.code).values("pk")
    return {"license": Q(id__in=usable), "license-citation": Q(license_id__in=usable)}


class ChangesFeed(Feed):
    """The latest public changes of the whole register."""

    feed_type = Atom1Feed
    author_name = PUBLISHER

    def get_object(self, request, *args, **kwargs):
        return None

    def filters(self, obj):
        """The changes this feed lists (:class:`history.feed.Filters`)."""
        return feed.ALL

    def title(self, obj):
        return "Compliance Registry: changes"

    def subtitle(self, obj):
        return "New and changed published records of the register, newest first."

    def link(self, obj):
        return reverse("public:change-list")

    def feed_url(self, obj):
        return reverse("public:feed-changes")

    def items(self, obj):
        return feed.select(self.filters(obj), 0, FEED_LENGTH)

    def item_title(self, change):
        return f"{change.record_type_display}: {change.label} ({change.action_display.lower()})"

    def item_description(self, change):
        lines = [str(field_change) for field_change in change.changes]
        if change.reason:
            lines.append(f"Reason: {change.reason}")
        return "\n".join(lines) or f"{change.record_type_display} {change.action_display.lower()}."

    def item_link(self, change):
        # A deleted or unpublished record has no page: point at the change history instead.
        return change.url or reverse("public:change-list")

    def item_guid(self, change):
        digest = hashlib.sha256(
            "|".join([change.date_iso, change.record_type, change.action, change.url, change.label]).encode()
        ).hexdigest()[:32]
        return f"urn:compliance-registry:change:{digest}"

    item_guid_is_permalink = False

    def item_pubdate(self, change):
        return change.date

    def item_updateddate(self, change):
        return change.date

    def item_categories(self, change):
        return [change.record_type_display, change.action_display]


class EntityChangesFeed(ChangesFeed):
    """Changes of one published entity, its licences and its audits."""

    def get_object(self, request, slug):
        return get_object_or_404(Entity.objects.published(), slug=slug)

    def filters(self, entity):
        return feed.Filters(scopes=entity_scopes(entity))

    def title(self, entity):
        return f"Compliance Registry: changes to {entity.name}"

    def subtitle(self, entity):
        return f"New and changed published facts about {entity.name}, its licences and audits."

    def link(self, entity):
        return entity.get_absolute_url()

    def feed_url(self, entity):
        return reverse("public:feed-entity", kwargs={"slug": entity.slug})


class JurisdictionChangesFeed(ChangesFeed):
    """Changes of the published licences usable in one jurisdiction."""

    def get_object(self, request, code):
        jurisdiction = Jurisdiction.objects.filter(code=code.upper()).first()
        if jurisdiction is None:
            raise Http404("No jurisdiction has this code.")
        return jurisdiction

    def filters(self, jurisdiction):
        return feed.Filters(scopes=jurisdiction_scopes(jurisdiction))

    def title(self, jurisdiction):
        return f"Compliance Registry: licences usable in {jurisdiction.name}"

    def subtitle(self, jurisdiction):
        return (
            f"New and changed published licences usable in {jurisdiction.name}: granted there, passported "
            "there, or under a regime of an area that covers it."
        )

    def link(self, jurisdiction):
        return f"{reverse('public:license-list')}?{urlencode({'usable_in': jurisdiction.code})}"

    def feed_url(self, jurisdiction):
        return reverse("public:feed-jurisdiction", kwargs={"code": jurisdiction.code})
