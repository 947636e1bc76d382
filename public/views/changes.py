"""``/changes/``: the public change history as a list and its exports."""

from __future__ import annotations

import datetime
from functools import partial

from django.core.paginator import Page
from django.utils import timezone

from history import feed
from opendata import exports
from opendata.serializers import (
    ChangeSerializer,
)
from public import filters
from public.views.exports import ExportView
from public.views.lists import RegistryListView, _query_url


class ChangeListView(RegistryListView):
    """``/changes/``: the latest public changes across the register, newest first (see history.feed)."""

    filterset_class = filters.ChangeFilterSet
    template_name = "public/change_list.html"
    context_object_name = "change_feed"  # a feed has no single model to name it after
    export_name = "change"
    heading = "Changes"

    def get_queryset(self):
        return None  # no QuerySet: the FilterSet's qs is the feed's filters (history.feed.Filters)

    def paginate_queryset(self, changes, page_size):
        """A page of the changes ``changes`` (history.feed.Filters) selects: counted as the other lists are."""
        paginator = self.get_paginator([], page_size, allow_empty_first_page=True)
        paginator.count = self.cached_count(partial(feed.count, changes))
        number = self.page_number(paginator.num_pages)
        page = Page(feed.select(changes, (number - 1) * page_size, page_size), number, paginator)
        return paginator, page, page.object_list, page.has_other_pages()

    def get_template_names(self):
        # Django would derive a second name from the object list's model, which a feed lacks.
        return [self.template_name]

    # "Last 7 days" runs from six days ago to today: seven calendar days, today included.
    periods = (("Last 7 days", 6), ("Last 30 days", 29))

    def get_periods(self):
        """Quick links setting ``since`` (the URL keeps the state); the one the URL matches is selected."""
        params = self.request.GET
        since, until = params.get("since", ""), params.get("until", "")
        links = []
        for label, days in self.periods:
            day = (timezone.localdate() - datetime.timedelta(days=days)).isoformat()
            url = _query_url(params, since=day, until=None)
            links.append({"label": label, "url": url, "selected": since == day and not until})
        url = _query_url(params, since=None, until=None)
        links.append({"label": "All dates", "url": url, "selected": not (since or until)})
        return links

    def get_context_data(self, **kwargs):
        return super().get_context_data(**kwargs, periods=self.get_periods())


class ChangeExportView(ExportView):
    filterset_class = filters.ChangeFilterSet
    serializer_class = ChangeSerializer
    filename = "changes"

    def get_queryset(self):
        return None  # see ChangeListView

    def listing(self, filterset):
        return exports.Listing(page=partial(feed.page, filterset.qs), iterate=partial(feed.iterate, filterset.qs))
