"""The open-data pages: dataset releases, the data dictionary and the API guide."""

from __future__ import annotations

from django.http import FileResponse, Http404
from django.urls import reverse
from django.views.generic import TemplateView, View

from opendata import datasets
from public import guides


def _live_exports():
    """The always-current exports of the lists, beside the frozen releases."""
    names = [
        ("Licences", "license-export"),
        ("Audits and certifications", "audit-export"),
        ("Entities", "entity-export"),
        ("Regulators", "regulator-export"),
        ("White papers", "white-paper-export"),
        ("Crypto-assets", "crypto-asset-export"),
    ]
    return [
        (
            title,
            reverse(f"public:{name}", kwargs={"format": "csv"}),
            reverse(f"public:{name}", kwargs={"format": "json"}),
        )
        for title, name in names
    ]


class DataReleaseListView(TemplateView):
    """``/data/``: the dataset releases written by ``export_dataset``, newest first, and the live exports."""

    template_name = "public/data_releases.html"

    def get_context_data(self, **kwargs):
        return super().get_context_data(
            **kwargs,
            releases=datasets.list_releases(),
            live_exports=_live_exports(),
            data_license=datasets.LICENSE,
            esma_attribution=datasets.ESMA_ATTRIBUTION,
        )


class DataDictionaryView(TemplateView):
    """``/data/dictionary/``: every field of every file, from the definitions the package schema is built from."""

    template_name = "public/data_dictionary.html"

    def get_context_data(self, **kwargs):
        return super().get_context_data(
            **kwargs,
            record_types=datasets.RECORD_TYPES,
            dump_filename=datasets.DUMP_FILENAME,
            data_license=datasets.LICENSE,
            esma_attribution=datasets.ESMA_ATTRIBUTION,
        )


class DataReleaseFileView(View):
    """``/data/<version>/<file>``: one file of a release, if that release's datapackage.json lists it."""

    def get(self, request, version, filename):
        found = datasets.release_file_path(version, filename)
        if found is None:
            raise Http404("This release has no such file.")
        path, content_type = found
        # The descriptor opens in the browser (tools fetch it by URL); data files download under a telling name.
        return FileResponse(
            path.open("rb"),
            content_type=content_type,
            as_attachment=filename != datasets.DESCRIPTOR_FILENAME,
            filename=f"{datasets.PACKAGE_NAME}-{version}-{filename}",
        )


class ApiGuideView(TemplateView):
    """``/about/api/``: the API guide (docs/api.md) as a page, linked from the API's schema and its docs."""

    template_name = "public/api_guide.html"

    def get_context_data(self, **kwargs):
        title, body = guides.api_guide()
        return super().get_context_data(**kwargs, title=title, body=body)
