"""``/verify/``: paste or upload counterparties, see a verdict on each, download them as CSV.

The page asks :func:`verification.service.verify`, as the API does; a bad row is reported on its own row.
It answers a POST (an upload, or a long list, does not fit in an address) without writing anything, and a GET
with ``?rows=`` (a link to a check); both are rate limited as the API is without a key.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass

from django.http import HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views import View

from opendata.exports import neutralise
from verification.forms import VerifyForm
from verification.service import Result, verify
from verification.throttling import VerifyThrottle
from verification.verdicts import Verdict

TEMPLATE = "verification/verify.html"
CSV_COLUMNS = (
    "row",
    "reference",
    "name",
    "lei",
    "domain",
    "jurisdiction",
    "service",
    "verdict",
    "explanation",
    "entity",
    "entity_url",
    "score",
    "match_reasons",
    "licences_usable",
    "other_licences_in_force",
    "warning_notices",
    "other_candidates",
    "errors",
    "register_day",
    "data_version",
)


@dataclass
class Line:
    """A row of the results table: the row read, and its result (or why it could not be read)."""

    number: int
    item: dict
    result: Result | None
    errors: list[str]


class VerifyPageView(View):
    # A POST here asks a question and changes nothing (operations/security.py lets it through).
    accepts_public_post = True

    def get(self, request):
        if "rows" in request.GET:
            return self.answer(request, VerifyForm(request.GET))
        return render(request, TEMPLATE, {"form": VerifyForm()})

    def post(self, request):
        return self.answer(request, VerifyForm(request.POST, request.FILES))

    def answer(self, request, form):
        if not form.is_valid():
            return render(request, TEMPLATE, {"form": form})
        as_of = form.cleaned_data["as_of"]
        if as_of and as_of > timezone.localdate():
            form.add_error("as_of", "Give a day in the past, or leave it empty for today's register.")
            return render(request, TEMPLATE, {"form": form})
        throttle = VerifyThrottle()
        if not throttle.allow_request(request, self):
            wait = math.ceil(throttle.wait() or 1)
            response = render(request, TEMPLATE, {"form": form, "throttled": wait}, status=429)
            response["Retry-After"] = str(wait)
            return response
        rows = form.cleaned_data["parsed"]
        readable = [row for row in rows if not row.errors]
        report = verify([row.item for row in readable], day=as_of)
        results = dict(zip((row.line for row in readable), report.results, strict=True))
        lines = [Line(row.line, row.item, results.get(row.line), row.errors) for row in rows]
        if request.POST.get("format") == "csv" or request.GET.get("format") == "csv":
            return csv_download(request, lines, report.register)
        counts = {verdict: 0 for verdict in Verdict}
        for line in lines:
            if line.result and line.result.decision:
                counts[line.result.decision.verdict] += 1
        context = {
            "form": form,
            "lines": lines,
            "register": report.register,
            "counts": [(verdict, count) for verdict, count in counts.items() if count],
            "not_checked": sum(1 for line in lines if not (line.result and line.result.decision)),
        }
        return render(request, TEMPLATE, context)


def csv_download(request, lines, register) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="verification-{register.day.isoformat()}.csv"'
    writer = csv.writer(response)
    writer.writerow(CSV_COLUMNS)
    for line in lines:
        writer.writerow([neutralise(value) for value in csv_row(request, line, register)])
    return response


def csv_row(request, line: Line, register) -> list:
    result = line.result
    decision = result.decision if result else None
    first = result.matches[0] if result and result.matches else None
    chosen = first if decision and decision.chosen else None
    errors = list(line.errors)
    if result:
        errors += [f"{name}: {message}" for name, messages in result.errors.items() for message in messages]

    def url(record):
        return request.build_absolute_uri(record.get_absolute_url())

    return [
        line.number,
        line.item.get("reference", ""),
        *(line.item.get(name, "") for name in ("name", "lei", "domain", "jurisdiction", "service")),
        decision.verdict.value if decision else "",
        decision.explanation if decision else "",
        chosen.candidate.entity.name if chosen else "",
        url(chosen.candidate.entity) if chosen else "",
        chosen.candidate.score if chosen else "",
        "; ".join(reason.detail for reason in chosen.candidate.reasons) if chosen else "",
        " ".join(url(licence) for licence, usable in chosen.licences if usable) if chosen else "",
        " ".join(url(licence) for licence, usable in chosen.licences if not usable) if chosen else "",
        " ".join(url(notice) for notice in chosen.warnings) if chosen else "",
        "; ".join(
            f"{match.candidate.entity.name} ({match.candidate.score})"
            for match in (result.matches if result else [])
            if match is not chosen
        ),
        "; ".join(errors),
        register.day.isoformat(),
        register.version,
    ]
