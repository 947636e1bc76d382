from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from history import feeds
from opendata import api
from public import views

app_name = "public"

# List pages and their exports: owned by the list/filter/export work.
list_patterns = [
    path("entities/", views.EntityListView.as_view(), name="entity-list"),
    path("regulators/", views.RegulatorListView.as_view(), name="regulator-list"),
    path("licenses/", views.LicenseListView.as_view(), name="license-list"),
    path("audits/", views.AuditListView.as_view(), name="audit-list"),
    re_path(r"^entities\.(?P<format>csv|json)$", views.EntityExportView.as_view(), name="entity-export"),
    re_path(r"^regulators\.(?P<format>csv|json)$", views.RegulatorExportView.as_view(), name="regulator-export"),
    re_path(r"^licenses\.(?P<format>csv|json)$", views.LicenseExportView.as_view(), name="license-export"),
    re_path(r"^audits\.(?P<format>csv|json)$", views.AuditExportView.as_view(), name="audit-export"),
    path("white-papers/", views.WhitePaperListView.as_view(), name="white-paper-list"),
    re_path(r"^white-papers\.(?P<format>csv|json)$", views.WhitePaperExportView.as_view(), name="white-paper-export"),
    path("crypto-assets/", views.CryptoAssetListView.as_view(), name="crypto-asset-list"),
    re_path(
        r"^crypto-assets\.(?P<format>csv|json)$", views.CryptoAssetExportView.as_view(), name="crypto-asset-export"
    ),
]

# Home, detail pages and source pages: owned by the pages work.
page_patterns = [
    path("", views.HomeView.as_view(), name="home"),
    path("search/", views.SearchView.as_view(), name="search"),
    path("entities/<slug:slug>/", views.EntityDetailView.as_view(), name="entity-detail"),
    path("regulators/<slug:slug>/", views.RegulatorDetailView.as_view(), name="regulator-detail"),
    path("regimes/<slug:slug>/", views.RegimeDetailView.as_view(), name="regime-detail"),
    path("licenses/<slug:slug>/", views.LicenseDetailView.as_view(), name="license-detail"),
    path("audits/<slug:slug>/", views.AuditDetailView.as_view(), name="audit-detail"),
    path("sources/<slug:slug>/", views.SourceDetailView.as_view(), name="source-detail"),
    path("white-papers/<slug:slug>/", views.WhitePaperDetailView.as_view(), name="white-paper-detail"),
    path("crypto-assets/<slug:slug>/", views.CryptoAssetDetailView.as_view(), name="crypto-asset-detail"),
]

# The public change history: owned by the change-history work.
change_patterns = [
    path("changes/", views.ChangeListView.as_view(), name="change-list"),
    re_path(r"^changes\.(?P<format>csv|json)$", views.ChangeExportView.as_view(), name="change-export"),
]

# Open-data releases and their data dictionary: owned by the dataset work.
data_patterns = [
    path("data/", views.DataReleaseListView.as_view(), name="data-releases"),
    path("data/dictionary/", views.DataDictionaryView.as_view(), name="data-dictionary"),
    path("data/<str:version>/<path:filename>", views.DataReleaseFileView.as_view(), name="data-release-file"),
]

# The JSON API, its OpenAPI schema and docs, and the Atom feeds: owned by the API and feeds work.
api_patterns = [
    path("api/", api.APIRootView.as_view({"get": "list"}), name="api-root"),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="public:api-schema"), name="api-docs"),
    path("about/api/", views.ApiGuideView.as_view(), name="api-guide"),
    path("api/", include(api.Router.urls())),
    re_path(r"^api/", api.not_found),
]
feed_patterns = [
    path("feeds/changes.atom", feeds.ChangesFeed(), name="feed-changes"),
    path("entities/<slug:slug>/changes.atom", feeds.EntityChangesFeed(), name="feed-entity"),
    path("jurisdictions/<str:code>/changes.atom", feeds.JurisdictionChangesFeed(), name="feed-jurisdiction"),
]

urlpatterns = page_patterns + list_patterns + change_patterns + data_patterns + api_patterns + feed_patterns
