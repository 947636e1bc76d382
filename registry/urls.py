from django.urls import path, re_path

from . import views

app_name = "registry"

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
]

# The public change history: owned by the change-history work.
change_patterns = [
    path("changes/", views.ChangeListView.as_view(), name="change-list"),
    re_path(r"^changes\.(?P<format>csv|json)$", views.ChangeExportView.as_view(), name="change-export"),
]

urlpatterns = page_patterns + list_patterns + change_patterns
