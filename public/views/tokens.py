"""White papers and crypto-assets (ESMA's MiCA register, Titles II to IV): their lists, exports and pages."""

from __future__ import annotations

from django.db.models import Prefetch
from django.http import Http404
from django.views.generic import DetailView

from history import as_of, feed
from opendata.serializers import (
    CryptoAssetSerializer,
    WhitePaperSerializer,
)
from public import filters
from public.views.common import facts_by_field, public_citations
from public.views.exports import export_view
from public.views.lists import list_view
from registry.models import (
    CryptoAsset,
    WhitePaper,
    WhitePaperCitation,
    WhitePaperFact,
)


def white_paper_list_queryset():
    return (
        WhitePaper.objects.published()
        .select_related("offeror", "filed_by", "regulator", "jurisdiction", "crypto_asset")
        .prefetch_related("host_states")
        .order_by("-listed_on", "slug")
    )


class WhitePaperListView(
    list_view(filters.WhitePaperFilterSet, "white-paper", "White papers", white_paper_list_queryset)
):
    def page_rows(self, queryset, ids):
        return super().page_rows(white_paper_list_queryset(), ids)


WhitePaperExportView = export_view(
    filters.WhitePaperFilterSet, WhitePaperSerializer, "white-papers", white_paper_list_queryset
)


class AsOfDetailMixin:
    """A detail page that answers ``?as_of=YYYY-MM-DD`` with the record as it stood at the end of that day, by the
    lists' rule (history.as_of): 404 when it was not public then. A malformed day is named on the page, which
    then shows the record as it is today."""

    def as_of_day(self):
        raw = self.request.GET.get("as_of", "")
        day = as_of.parse_as_of(self.request.GET)
        self.as_of_error = ""
        if day is None and raw.strip():
            self.as_of_error = "The as-of date must be YYYY-MM-DD: showing it as it is today."
        return day

    def get_object(self, queryset=None):
        day = self.day = self.as_of_day()
        if day is None:
            return super().get_object(queryset)
        model = self.get_queryset().model
        found = as_of.records(model, day, as_of.rows(model, day).filter(slug=self.kwargs["slug"])[:1])
        if not found:
            raise Http404(f"No {model._meta.verbose_name} was public under this address on that day.")
        return found[0]

    def get_context_data(self, **kwargs):
        return super().get_context_data(
            **kwargs,
            as_of=self.day,
            as_of_display=as_of.display_day(self.day) if self.day else "",
            as_of_error=self.as_of_error,
        )


class WhitePaperDetailView(AsOfDetailMixin, DetailView):
    """A white paper: its crypto-asset, offeror or issuer, filing CASP and authority, each fact beside its sources."""

    template_name = "public/white_paper_detail.html"
    context_object_name = "paper"

    def get_queryset(self):
        return white_paper_list_queryset().prefetch_related(
            Prefetch("citations", queryset=public_citations(WhitePaperCitation), to_attr="public_citations")
        )

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        paper = self.object
        if self.day:
            # As it stood: its citations then (history.as_of), its crypto-asset if public then too.
            citations = list(paper.citations.all())
            shown = as_of.rows(CryptoAsset, self.day).filter(id=paper.crypto_asset_id)
            token = paper.crypto_asset if paper.crypto_asset_id and shown.exists() else None
        else:
            citations = paper.public_citations
            token = paper.crypto_asset if paper.crypto_asset_id and paper.crypto_asset.is_published else None
        facts, general = facts_by_field(citations, WhitePaperFact)
        # As of a day, the paper is its snapshot then, which is not known to be published today.
        changes = feed.changes_for(paper, published=self.day is None)
        context.update(facts=facts, general_citations=general, token=token, changes=changes)
        return context


class CryptoAssetDetailView(AsOfDetailMixin, DetailView):
    """A crypto-asset: its identifiers, and the white papers that describe it with their offerors or issuers."""

    template_name = "public/crypto_asset_detail.html"
    context_object_name = "token"
    paper_limit = 50

    def get_queryset(self):
        return CryptoAsset.objects.published()

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        if self.day:
            papers = as_of.rows(WhitePaper, self.day).filter(crypto_asset_id=self.object.pk)
            shown = as_of.records(WhitePaper, self.day, papers[: self.paper_limit])
        else:
            papers = white_paper_list_queryset().filter(crypto_asset=self.object)
            shown = list(papers[: self.paper_limit])
        offerors = {paper.offeror.pk: paper.offeror for paper in shown if paper.offeror_id}
        context.update(papers=shown, paper_total=papers.count(), offerors=list(offerors.values()))
        return context


def crypto_asset_list_queryset():
    return CryptoAsset.objects.published().order_by(*CryptoAsset._meta.ordering)


CryptoAssetListView = list_view(
    filters.CryptoAssetFilterSet, "crypto-asset", "Crypto-assets", crypto_asset_list_queryset
)


CryptoAssetExportView = export_view(
    filters.CryptoAssetFilterSet, CryptoAssetSerializer, "crypto-assets", crypto_asset_list_queryset
)
