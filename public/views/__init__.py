"""Public pages, one module per kind of page. Every query starts from a model's ``published()``.

- ``common``: what the pages share (the public querysets, facts beside their sources, the timeline);
- ``home``: the home and search pages;
- ``entities``: an entity's page;
- ``details``: the licence, audit, regulator, regime and source pages;
- ``lists``: the list pages (``RegistryListView``) and their querysets;
- ``exports``: the lists' CSV and JSON exports;
- ``tokens``: white papers and crypto-assets (lists, exports and pages);
- ``changes``: the change history's list and exports;
- ``data``: the open-data releases, the data dictionary and the API guide.

The names ``public/urls.py`` and others import from ``public.views`` are re-exported here.
"""

from public.views.changes import ChangeExportView, ChangeListView
from public.views.common import audit_timeline_start, facts_by_field, most_recent, timeline_for
from public.views.data import ApiGuideView, DataDictionaryView, DataReleaseFileView, DataReleaseListView
from public.views.details import (
    AuditDetailView,
    LicenseDetailView,
    RegimeDetailView,
    RegulatorDetailView,
    SourceDetailView,
)
from public.views.entities import EntityDetailView
from public.views.exports import AuditExportView, EntityExportView, LicenseExportView, RegulatorExportView
from public.views.home import HomeView, SearchView
from public.views.lists import (
    LICENSE_ROW,
    AuditListView,
    EntityListView,
    LicenseListView,
    RegulatorListView,
    entity_list_queryset,
)
from public.views.tokens import (
    CryptoAssetDetailView,
    CryptoAssetExportView,
    CryptoAssetListView,
    WhitePaperDetailView,
    WhitePaperExportView,
    WhitePaperListView,
)

__all__ = [
    "LICENSE_ROW",
    "ApiGuideView",
    "AuditDetailView",
    "AuditExportView",
    "AuditListView",
    "ChangeExportView",
    "ChangeListView",
    "CryptoAssetDetailView",
    "CryptoAssetExportView",
    "CryptoAssetListView",
    "DataDictionaryView",
    "DataReleaseFileView",
    "DataReleaseListView",
    "EntityDetailView",
    "EntityExportView",
    "EntityListView",
    "HomeView",
    "LicenseDetailView",
    "LicenseExportView",
    "LicenseListView",
    "RegimeDetailView",
    "RegulatorDetailView",
    "RegulatorExportView",
    "RegulatorListView",
    "SearchView",
    "SourceDetailView",
    "WhitePaperDetailView",
    "WhitePaperExportView",
    "WhitePaperListView",
    "audit_timeline_start",
    "entity_list_queryset",
    "facts_by_field",
    "most_recent",
    "timeline_for",
]
