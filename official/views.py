"""The official register's history, public: each snapshot with its counts, its changes, a diff between any two
snapshots, the authorisations news, and their CSV/JSON exports (URL namespace ``official:``).

Each page is a :class:`ChangesPage`: its ``selection()`` reads the URL once, and the HTML page and its export
show that one selection, so the two never disagree. An invalid parameter is a message on the page (the
rest still applies) and a 400 naming it on the export.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field

from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import Http404, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.generic import TemplateView, View

from official import diff
from official.columns import Register
from official.forms import DiffForm, KindForm
from official.models import RegisterChange, RegisterSnapshot
from official.serializers import RegisterChangeSerializer
from opendata import exports
from opendata.paging import ExportPagination

PAGE_SIZE = 100


def register_or_404(register: str) -> Register:
    if register not in Register.values:
        raise Http404(f"ESMA has no register “{register}”: {', '.join(Register.values)}.")
    return Register(register)


def snapshot_or_404(register, day: str) -> RegisterSnapshot:
    """The published snapshot of ``register`` on ``day`` (YYYY-MM-DD); a clear 404 otherwise."""
    try:
        date = datetime.date.fromisoformat(day)
    except ValueError:
        raise Http404(f"“{day}” is not a date as YYYY-MM-DD.") from None
    snapshot = RegisterSnapshot.objects.published().filter(register=register, date=date).first()
    if snapshot is None:
        raise Http404(f"No published snapshot of this register on {date.isoformat()}.")
    return snapshot


def listing(changes) -> exports.Listing:
    """Changes (a QuerySet or a list) as an export reads them."""
    if isinstance(changes, QuerySet):
        return exports.Listing(
            page=lambda offset, limit: (list(changes[offset : offset + limit]), changes.count()),
            iterate=lambda size: changes.iterator(chunk_size=size),
        )
    return exports.Listing(page=lambda offset, limit: (changes[offset : offset + limit], len(changes)), iterate=iter)


@dataclass
class Selection:
    """What a page shows: the changes its URL selects, the form that read the URL, and the page's words."""

    changes: object  # a QuerySet of RegisterChange, or a list of them (a computed diff)
    form: object
    title: str
    intro: str = ""
    filename: str = "changes"
    context: dict = field(default_factory=dict)


def by_kind(changes, kind):
    if not kind:
        return changes
    if isinstance(changes, QuerySet):
        return changes.filter(kind=kind)
    return [change for change in changes if change.kind == kind]


class ChangesPage(View):
    """An HTML page of changes, or (with ``format``) its CSV or JSON export."""

    template_name = "official/changes.html"

    def selection(self, **kwargs) -> Selection:
        raise NotImplementedError

    def get(self, request, format=None, **kwargs):
        try:
            selection = self.selection(**kwargs)
        except Http404 as exc:
            if format:
                return JsonResponse({"error": "not found", "detail": str(exc)}, status=404)
            raise
        if format:
            return self.export(request, selection, format)
        changes = selection.changes
        paginator = Paginator(changes, PAGE_SIZE, allow_empty_first_page=True)
        number, page_error = self.page_number(request, paginator.num_pages)
        query = request.GET.copy()
        query.pop("page", None)
        suffix = f"?{query.urlencode()}" if query else ""
        context = {
            "selection": selection,
            "form": selection.form,
            "page_obj": paginator.page(number),
            "paginator": paginator,
            "object_list": paginator.page(number).object_list,
            "page_error": page_error,
            "csv_url": self.export_url(format="csv", **kwargs) + suffix,
            "json_url": self.export_url(format="json", **kwargs) + suffix,
            **selection.context,
        }
        return render(request, self.template_name, context)

    def export_url(self, format, **kwargs) -> str:
        """The address of this page's export as ``format`` (csv, json)."""
        raise NotImplementedError

    @staticmethod
    def page_number(request, num_pages) -> tuple[int, str]:
        """The ``page`` asked for, or 1 with a message when it is not a page of ``num_pages`` (never a 404)."""
        raw = request.GET.get("page", "")
        if not raw:
            return 1, ""
        try:
            number = int(raw)
        except ValueError:
            number = 0
        if 1 <= number <= num_pages:
            return number, ""
        return 1, f"Page must be a whole number from 1 to {num_pages}; showing page 1 instead."

    def export(self, request, selection, format):
        errors = dict(selection.form.errors)
        if format == "json":
            errors.update(ExportPagination.errors(request.GET))
        if errors:
            return exports.invalid_parameters(errors)
        table = RegisterChangeSerializer.table()
        name = f"{selection.filename}.{format}"
        if format == "csv":
            return exports.csv_response(request, listing(selection.changes), table, name)
        return exports.json_response(request, listing(selection.changes), table, name)


def _kind(form) -> str:
    """The valid ``kind`` of a checked form ("" for all); a bad one is reported beside its field."""
    return form.cleaned_data.get("kind", "")


def day_text(day) -> str:
    return f"{day.day} {day:%B %Y}"


class SnapshotView(ChangesPage):
    """``/official/esma/<register>/<date>/``: what one snapshot changed since the register's previous one."""

    def selection(self, register, date):
        snapshot = snapshot_or_404(register_or_404(register), date)
        form = KindForm(self.request.GET)
        form.is_valid()
        changes = snapshot.changes.with_record_link().in_order()
        previous = snapshot.previous
        if previous is None:
            intro = "The first snapshot we hold of this register: every record it lists counts as listed."
        else:
            intro = f"Compared with the snapshot of {day_text(previous.date)}, the one before it."
        return Selection(
            by_kind(changes, _kind(form)),
            form,
            title=f"{snapshot.get_register_display()}: snapshot of {day_text(snapshot.date)}",
            intro=intro,
            filename=f"esma-{register}-{snapshot.date.isoformat()}-changes{'-' + _kind(form) if _kind(form) else ''}",
            context={"snapshot": snapshot, "previous": previous, "register": snapshot.register},
        )

    def export_url(self, format, register, date):
        return reverse("official:snapshot-export", kwargs={"register": register, "date": date, "format": format})


class DiffView(ChangesPage):
    """``/official/esma/<register>/?from=DATE&to=DATE``: the changes between any two snapshots of a register
    (by default, the latest against the one before it)."""

    template_name = "official/diff.html"

    def selection(self, register):
        register = register_or_404(register)
        snapshots = list(RegisterSnapshot.objects.published().filter(register=register).order_by("date"))
        data = self.request.GET.copy()
        if "from" not in data and "to" not in data and len(snapshots) >= 2:
            data.update({"from": snapshots[-2].date.isoformat(), "to": snapshots[-1].date.isoformat()})
        form = DiffForm(data, [s.date for s in snapshots])
        changes, older, newer = [], None, None
        form.is_valid()
        if form.cleaned_data.get("from") and form.cleaned_data.get("to"):
            by_day = {s.date.isoformat(): s for s in snapshots}
            older, newer = by_day[form.cleaned_data["from"]], by_day[form.cleaned_data["to"]]
            changes = by_kind(diff.compare(older, newer), _kind(form))
        label = Register(register).label
        name = f"esma-{register}-{older.date.isoformat()}-to-{newer.date.isoformat()}" if older else f"esma-{register}"
        return Selection(
            changes,
            form,
            title=f"{label}: changes between two snapshots",
            filename=name + (f"-{_kind(form)}" if _kind(form) else ""),
            context={"register": register, "snapshots": snapshots, "older": older, "newer": newer},
        )

    def export_url(self, format, register):
        return reverse("official:diff-export", kwargs={"register": register, "format": format})


class NewsView(ChangesPage):
    """``/official/esma/authorisations/``: CASPs newly listed, no longer listed, or given an end date (the feed's
    entries, :meth:`RegisterChangeQuerySet.authorisation_news`)."""

    template_name = "official/news.html"

    def selection(self):
        form = KindForm(self.request.GET)
        form.is_valid()
        changes = RegisterChange.objects.published().authorisation_news().with_record_link().in_order()
        return Selection(
            by_kind(changes, _kind(form)),
            form,
            title="New authorisations and withdrawals in ESMA's register",
            filename="esma-casp-authorisations" + (f"-{_kind(form)}" if _kind(form) else ""),
        )

    def export_url(self, format):
        return reverse("official:news-export", kwargs={"format": format})


class IndexView(TemplateView):
    """``/official/esma/``: every snapshot of each register file, with what it listed, changed and dropped."""

    template_name = "official/index.html"

    def get_context_data(self, **kwargs):
        snapshots = RegisterSnapshot.objects.published().with_counts().order_by("register", "-date")
        by_register = {register: [] for register in Register}
        for snapshot in snapshots:
            by_register[Register(snapshot.register)].append(snapshot)
        return super().get_context_data(**kwargs, registers=[(r, s) for r, s in by_register.items() if s])
